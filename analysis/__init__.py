"""Analyses over result Datasets: combining runs, statistics, figures.

Plain functions over labelled data (cf. Elephant): each documents its formula
and reference, reads the names fixed by :mod:`bioprop.models.schema`, and never
reaches back into the models.
"""

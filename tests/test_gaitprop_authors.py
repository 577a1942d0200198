"""GAIT-prop and TP against the authors' tower network (nasiryahm/GAIT-prop, ``inv_net.py``).

:class:`AuthorsTower` is a NumPy transcription, written for this test, of the
authors' ``TowerInvNet``: forward pass, ``get_gait_updates``, ``get_tp_updates``
and the orthogonality gradient ``SquareInvNet.ortho_gradients``, in their
convention (layer k holds a square ``weight_matrix`` V_k applied as ``x @ V_k`` to
the first ``n_k`` units of the layer below; updates are returned negated).
Our square embedding with ``M_l = [[V_l^T, 0], [0, I]]`` is that tower
(``bioprop.models.rate.target_propagation`` docstring), so targets, errors and
the updates of the tower's weights must agree to rounding."""
import numpy as np
import pytest

from bioprop.models.rate.mlp import LEAKY_SLOPE
from bioprop.models.rules import get_rule

STRUCTURE = (10, 8, 6, 4)   # input, two narrowing hidden layers, output (the tower narrows)


def leaky(a):
    return np.where(a > 0, a, LEAKY_SLOPE * a)


def leaky_inverse(h):
    return np.where(h > 0, h, h / LEAKY_SLOPE)


def leaky_derivative(a):
    return np.where(a > 0, 1.0, LEAKY_SLOPE)


class AuthorsTower:
    def __init__(self, structure, weights, biases):
        self.n = structure
        self.V, self.c = weights, biases

    def forward(self, x):
        out = [x]
        for k, (v, c) in enumerate(zip(self.V, self.c)):
            out.append(leaky(out[-1][:, :self.n[k + 1]] @ v + c))
        return out

    def inverse(self, k, h):
        return (leaky_inverse(h) - self.c[k]) @ np.linalg.inv(self.V[k])

    def ortho_gradient(self, k, lam):
        """``lam`` times the gradient of sum(offdiag(V V^T)^2) with respect to V."""
        o = self.V[k] @ self.V[k].T
        o -= np.diag(np.diag(o))
        return lam * 4.0 * o @ self.V[k]

    def _updates(self, fw, k, error, lam):
        fp = leaky_derivative(leaky_inverse(fw[k + 1]))
        dv = fw[k][:, :self.n[k + 1]].T @ (fp * error) / len(error) + self.ortho_gradient(k, lam)
        return -dv, -(fp * error).mean(axis=0), fp

    def gait_updates(self, x, targets, lam, gamma):
        fw = self.forward(x)
        dv, dc, inverse, mult = [], [], targets, 1.0
        for k in reversed(range(len(self.V))):
            error = mult * (fw[k + 1] - inverse)
            w, b, fp = self._updates(fw, k, error, lam)
            dv.insert(0, w), dc.insert(0, b)
            inc = gamma * fp * fp
            inverse = self.inverse(k, (1.0 - inc) * fw[k + 1] + inc * inverse)
            mult /= gamma
            inverse = np.hstack([inverse, fw[k][:, self.n[k + 1]:]])
        return dv, dc

    def tp_updates(self, x, targets, lam):
        fw = self.forward(x)
        targets_by_layer = [targets]
        for k in reversed(range(len(self.V))):
            back = self.inverse(k, targets_by_layer[0])
            targets_by_layer.insert(0, np.hstack([back, fw[k][:, back.shape[1]:]]))
        dv, dc = [], []
        for k in range(len(self.V)):
            w, b, _ = self._updates(fw, k, fw[k + 1] - targets_by_layer[k + 1], lam)
            dv.append(w), dc.append(b)
        return dv, dc


@pytest.mark.parametrize("name", ["gaitprop", "tp"])
def test_updates_match_a_transcription_of_the_authors_tower(name):
    rng = np.random.default_rng(5)
    n = STRUCTURE
    V = [np.linalg.qr(rng.normal(size=(m, m)))[0] + 0.1 * rng.normal(size=(m, m)) for m in n[1:]]
    c = [0.1 * rng.normal(size=m) for m in n[1:]]
    x = rng.uniform(0, 1, size=(16, n[0]))
    targets = np.eye(n[-1])[rng.integers(0, n[-1], 16)]
    lam, gamma = 0.1, 1e-3
    cls = get_rule(name)
    params = cls.parameters.resolve({"orthogonal_penalty": lam, "gamma": gamma} if name == "gaitprop"
                                    else {"orthogonal_penalty": lam}, rule=name)
    rule = cls(n_inputs=n[0], n_classes=n[-1], hidden=n[1:-1], params=params, seed=0)
    for M, bias, v, b in zip(rule.M, rule.bias, V, c):
        k = len(v)
        M[...] = np.eye(len(M))
        M[:k, :k] = v.T
        bias[...] = 0.0
        bias[:k] = b
    rule.refresh_inverses()
    tower = AuthorsTower(n, V, c)
    ref_w, ref_b = (tower.gait_updates(x, targets, lam, gamma) if name == "gaitprop"
                    else tower.tp_updates(x, targets, lam))

    mine = rule.compute_updates(x, targets)
    np.testing.assert_allclose(mine.output, tower.forward(x)[-1], rtol=1e-12)
    for M, dw, db, v, rw, rb in zip(rule.M, mine.dW, mine.db, V, ref_w, ref_b):
        k = len(v)
        total = rule.penalty_gradient(M)
        total[:dw.shape[0], :dw.shape[1]] += dw
        # our gradient of the tower's weights is the negated, transposed authors' update;
        # the authors form g(h + gamma...) - h, which loses digits that 1/gamma^k amplifies
        np.testing.assert_allclose(total[:k, :k], -rw.T, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(db, -rb, rtol=1e-7, atol=1e-10)
        # the auxiliary rows (the units the tower carries along) get no update at all
        np.testing.assert_allclose(total[k:], 0.0, atol=1e-12)

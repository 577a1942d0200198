"""Benchmark: one epoch of bioprop's NumPy backprop against PyTorch (CPU) on the
same network, data, batch size, optimiser and dtype, timed in one process.

Both sides train a 784-500-10 ReLU network with cross-entropy on the training
set given; epochs are alternated (numpy, torch, numpy, torch) and the faster of
each pair is kept, so load on the machine hits both alike.  Without torch the
numpy time is still recorded and the ratio is left empty.

    OMP_NUM_THREADS=1 python workflows/scripts/bp_speed.py --batch-size 32 \
        --optimizer adam --dtype float32 --out speed.tsv
"""
from __future__ import annotations

import argparse
import time


from bioprop.models.datasets import load_dataset
from bioprop.models.files import atomic_output
from bioprop.models.rules import get_rule


def numpy_epoch(rule, x, y) -> float:
    start = time.perf_counter()
    rule.train_epoch(x, y)
    return time.perf_counter() - start


def torch_epoch(x, y, hidden, args) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    dtype = getattr(torch, args.dtype)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, int(y.max()) + 1)).to(dtype)
    opt = (torch.optim.Adam(net.parameters(), lr=args.learning_rate) if args.optimizer == "adam"
           else torch.optim.SGD(net.parameters(), lr=args.learning_rate))
    xt, yt = torch.from_numpy(x.astype(args.dtype)), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for i in range(0, len(yt), args.batch_size):
        opt.zero_grad(set_to_none=True)
        loss_fn(net(xt[i:i + args.batch_size]), yt[i:i + args.batch_size]).backward()
        opt.step()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--out", required=True, help="TSV file to write")
    args = parser.parse_args()

    data = load_dataset(args.dataset)
    x, y = data.x_train, data.y_train
    rule_cls = get_rule("bp")
    params = rule_cls.parameters.resolve({"batch_size": args.batch_size, "optimizer": args.optimizer,
                                          "dtype": args.dtype, "learning_rate": args.learning_rate,
                                          "loss": "cross_entropy", "activation": "relu"})
    rule = rule_cls(n_inputs=x.shape[1], n_classes=data.n_classes, hidden=(args.hidden,),
                    params=params, seed=0)
    times_np, times_torch = [], []
    for _ in range(2):
        times_np.append(numpy_epoch(rule, x, y))
        times_torch.append(torch_epoch(x, y, args.hidden, args))
    t_np = min(times_np)
    t_torch = None if times_torch[0] is None else min(times_torch)
    ratio = "" if t_torch is None else f"{t_np / t_torch:.3f}"
    with atomic_output(args.out, overwrite=True) as tmp:
        tmp.write_text("n_samples\tbatch_size\toptimizer\tdtype\tnumpy_s\ttorch_s\tnumpy_over_torch\n"
                       f"{len(y)}\t{args.batch_size}\t{args.optimizer}\t{args.dtype}\t{t_np:.3f}\t"
                       f"{'' if t_torch is None else f'{t_torch:.3f}'}\t{ratio}\n")
    print(open(args.out).read(), end="")


if __name__ == "__main__":
    main()

"""Train a small CNN on scikit-learn's bundled digits (8x8 images, 10 classes; no download) with
the PyTorch-style front: Conv2d + BatchNorm2d + ReLU + MaxPool2d blocks, a Linear classifier,
CrossEntropyLoss, Adam, a shuffling DataLoader, and the whole training step (BatchNorm's
running statistics included) captured by ``tg.compile``. Reaches >= 97% test accuracy, shows a
progress bar, and saves the loss curve as PNG when matplotlib is installed.

    python examples/train_digits_cnn.py [--epochs N] [--eager] [--plot PATH]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

# 8x8 images make small matrices: BLAS threads do not pay off, and cost a lot on a busy machine
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import tracegrad as tg  # noqa: E402
from tracegrad import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_digits import load, progress  # noqa: E402  (same data split and progress bar)


def make_model(width: int = 16) -> nn.Module:
    """(N, 1, 8, 8) -> two conv blocks (8x8 -> 4x4 -> 2x2) -> 10 class scores."""
    return nn.Sequential(
        nn.Conv2d(1, width, kernel_size=3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, kernel_size=3, padding=1), nn.BatchNorm2d(2 * width),
        nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * 2 * 2, 10))


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--width", type=int, default=16, help="channels of the first conv")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--eager", action="store_true", help="run loss.backward() eagerly instead "
                    "of capturing the step with tg.compile")
    ap.add_argument("--plot", default="digits_cnn_loss.png", help="loss-curve PNG ('' to skip)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    tg.manual_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load(args.seed)
    x_train = x_train.reshape(-1, 1, 8, 8)  # NCHW, as PyTorch's Conv2d expects
    x_test = x_test.reshape(-1, 1, 8, 8)
    model = make_model(args.width)
    criterion = nn.CrossEntropyLoss()
    optimizer = tg.optim.Adam(model.parameters(), lr=args.lr)
    loader = tg.data.DataLoader((x_train, y_train), batch_size=args.batch_size, shuffle=True,
                                drop_last=True, seed=args.seed)

    def step(x, y):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    train_step = step if args.eager else tg.compile(step)
    losses = []
    model.train()
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        epoch_loss = 0.0
        for x, y in loader:
            epoch_loss += train_step(x, y).item()
        losses.append(epoch_loss / len(loader))
        progress(epoch, args.epochs, losses[-1])
    seconds = time.perf_counter() - t0
    print()

    model.eval()  # BatchNorm normalises with its running statistics from here on
    with tg.no_grad():
        predicted = model(x_test).argmax(1).numpy()
    accuracy = float((predicted == y_test).mean())
    print(f"test accuracy {accuracy:.4f} ({len(y_test)} images); training took {seconds:.2f} s "
          f"({'eager backward()' if args.eager else 'tg.compile step'})")

    if args.plot:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no loss curve")
        else:
            fig, ax = plt.subplots(figsize=(5, 3))
            ax.plot(range(1, len(losses) + 1), losses)
            ax.set_xlabel("epoch")
            ax.set_ylabel("training loss")
            ax.set_title("CNN (Conv2d + BatchNorm2d + MaxPool2d) on digits")
            fig.tight_layout()
            fig.savefig(args.plot)
            print(f"loss curve saved to {args.plot}")
    return accuracy


if __name__ == "__main__":
    acc = main()
    sys.exit(0 if acc >= 0.97 else 1)

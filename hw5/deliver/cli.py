"""The `hw5` command: `hw5 train [--part 1|2] [--epochs N] [--seed S] [--retrain]`, `hw5 report`,
`hw5 handin --user NAME [--user NAME ...]`, `hw5 convert MODEL [...]` (hw5.deliver.convert_cmd) and
`hw5 verify MODEL [...]` (hw5.deliver.verify_cmd)."""
from __future__ import annotations

import sys
import time

from hw5.deliver.arguments import OneLineParser, positive, seed, writable_directory
from hw5.deliver.users import user_name


def parser() -> OneLineParser:
    p = OneLineParser(prog="hw5", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a homework model (or load it from the cache) and report its accuracy")
    train.add_argument("--part", type=int, choices=(1, 2), default=1, help="homework part (default 1)")
    train.add_argument("--epochs", type=positive, default=None, help="epochs (default: the part's own)")
    train.add_argument("--seed", type=seed, default=0, help="random seed, >= 0 (default 0)")
    train.add_argument("--retrain", action="store_true", help="ignore the cache and train again")
    sub.add_parser("report", add_help=False,
                   help="run the suite with benchmarks; write report/report.html and report/report.pdf")
    handin = sub.add_parser("handin", help="write handin/homework5_<names>.zip: the report's PDF and the "
                                           "generated one-file script (runs the report first if needed)")
    handin.add_argument("--user", action="append", required=True, type=user_name, metavar="NAME",
                        help="an author's name, letters, digits, '_' and '-' (repeat for a team of 2 or 3)")
    handin.add_argument("--out", default="handin", type=writable_directory,
                        help="directory of the zip, made if missing; must be writable (default: handin)")
    handin.add_argument("--report", default="report", help="the report's directory (default: report)")
    from hw5.deliver.convert_cmd import add_parser

    add_parser(sub)
    from hw5.deliver.verify_cmd import add_parser as add_verify

    add_verify(sub)
    p.handin_parser = handin  # for the checks argparse cannot make alone (how many names)
    return p


def handin(args) -> int:
    from hw5.deliver.handin import HandinError, build

    try:
        build(args.user, out_dir=args.out, report_dir=args.report, say=lambda msg: print(f"[hw5] {msg}", flush=True))
    except HandinError as exc:
        print(f"[hw5] no zip written: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:   # the zip's directory or file could not be written: a path problem, one line
        print(f"hw5 handin: error: --out {str(args.out)!r}: no zip written: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


def train(args) -> int:
    from hw5.deliver.cache import train_part

    started = time.perf_counter()
    trained = train_part(args.part, epochs=args.epochs, seed=args.seed, retrain=args.retrain or None,
                         verbose=1, progress=lambda msg: print(f"[hw5] {msg}", flush=True))
    log = trained.log
    print(f"part {args.part}: test accuracy {log.test_accuracy:.4f} on 10,000 test images "
          f"({'loaded from cache' if trained.from_cache else 'trained'}; {log.train_seconds:.1f} s of training, "
          f"{time.perf_counter() - started:.1f} s in all)")
    if log.time_to_target is not None:
        print(f"time to {log.target:.0%} test accuracy: {log.time_to_target:.1f} s of training")
    else:
        print(f"test accuracy never reached {log.target:.0%}")
    return 0


INTERRUPTED = 130   # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


def main(argv=None) -> int:
    """The command; Ctrl-C stops it with one line and exit 130, no traceback (files are written atomically,
    so nothing is left half-written)."""
    try:
        return run(argv)
    except KeyboardInterrupt:
        print("hw5: interrupted (Ctrl-C); no file was left half-written", file=sys.stderr)
        return INTERRUPTED


def run(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:  # everything after `report` belongs to hw5.report (and pytest)
        from hw5.deliver.report import main as report

        return report(argv[1:])
    p = parser()
    args = p.parse_args(argv)
    if args.command == "handin":
        from hw5.deliver.users import check_users

        try:
            check_users(args.user)
        except ValueError as exc:
            p.handin_parser.error(str(exc))  # exits 2, like every other bad argument
    if args.command == "convert":
        from hw5.deliver.convert_cmd import main as convert

        return convert(args)
    if args.command == "verify":
        from hw5.deliver.verify_cmd import main as verify

        return verify(args)
    return {"train": train, "handin": handin}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

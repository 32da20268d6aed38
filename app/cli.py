"""The `digitpad` command: serve, predict, train, cross-validate and evaluate; build what the app ships
beside its models; the corrections database and its exports."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.nn.train import Recipe

DEFAULT_DATA_DIR = Path("data/mnist")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digitpad", description="Draw a digit, watch the network think.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web app and the REST API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=None, help="worker processes (default: WEB_CONCURRENCY or 1)")
    serve.add_argument("--reload", action="store_true", help="restart when the code changes (development)")
    serve.set_defaults(run=_serve)

    predict = commands.add_parser("predict", help="guess the digit (or, with --number, the number) in image files")
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    predict.add_argument(
        "--number", action="store_true", help="read each image as a whole number: every digit, left to right"
    )
    predict.add_argument("--model", default="cnn", help="a shipped model's name or a model file")
    predict.add_argument("--json", action="store_true", help="one JSON object per image, a line each")
    predict.set_defaults(run=_predict)

    train = commands.add_parser("train", help="train a model on MNIST and pen-stroke digits")
    _add_training_options(train)
    train.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="more training examples, e.g. from `digitpad corrections export` (repeatable)",
    )
    train.add_argument("--out", type=Path, help="model file to write (default: model/ARCHITECTURE.npz)")
    _add_lab_options(train)
    train.set_defaults(run=_train)

    crossval = commands.add_parser(
        "crossval", help="cross-validate a recipe over pen writers: train without some, read theirs"
    )
    _add_training_options(crossval, pendigits_required=True)
    crossval.add_argument("--folds", type=int, default=5, help="folds of writers (default: %(default)s)")
    crossval.add_argument(
        "--fold", type=int, action="append", dest="only", metavar="K", help="run fold K only (repeatable)"
    )
    crossval.add_argument("--jobs", type=int, default=1, help="folds trained at once, each in its own process")
    crossval.add_argument(
        "--out", type=Path, help="report to write (default: model/ARCHITECTURE.crossval.json beside the model)"
    )
    crossval.add_argument(
        "--resume", action="store_true", help="keep the folds the report at --out already has; run the others"
    )
    crossval.add_argument("--error-sheet", type=Path, help="also draw every misread drawing into this PNG")
    crossval.set_defaults(run=_crossval)

    evaluate = commands.add_parser("evaluate", help="accuracy of a model on the MNIST test set")
    evaluate.add_argument("--model", default="cnn", metavar="NAME_OR_PATH")
    evaluate.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(run=_evaluate)

    pack = commands.add_parser("pack-mnist", help="write the binarised MNIST the app ships (app/nn/bundled/)")
    pack.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder with MNIST's IDX files; missing ones are downloaded (default: %(default)s)",
    )
    pack.set_defaults(run=_pack_mnist)

    db = commands.add_parser("db", help="the corrections database (DIGITPAD_DATABASE_URL, or DIGITPAD_DATA_DIR)")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="create the schema, or bring it up to date")
    upgrade.add_argument("revision", nargs="?", default="head", help="the revision to reach (default: the latest)")
    upgrade.set_defaults(run=_db_upgrade)

    kept = commands.add_parser("corrections", help="the corrections people saved: counts, and exports to train on")
    kept_commands = kept.add_subparsers(dest="corrections_command", required=True, metavar="COMMAND")
    export = kept_commands.add_parser("export", help="write every correction to a file `digitpad train --extra` reads")
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="the .npz file (idx: the prefix)")
    export.add_argument(
        "--format",
        choices=["npz", "idx"],
        default="npz",
        help="npz (default), or IDX like MNIST's: FILE-images-idx3-ubyte.gz and FILE-labels-idx1-ubyte.gz",
    )
    export.set_defaults(run=_corrections_export)
    stats = kept_commands.add_parser("stats", help="how many corrections there are, by digit and model")
    stats.add_argument("--json", action="store_true", help="print GET /api/corrections/stats's JSON")
    stats.set_defaults(run=_corrections_stats)

    index = commands.add_parser(
        "index", help="build every model's stimulus index (what each unit learned) and record it in SHA256SUMS"
    )
    index.add_argument("folder", nargs="?", type=Path, help="folder of model files (default: the model directory)")
    index.set_defaults(run=_index)

    judge = commands.add_parser(
        "fit-judge",
        help="fit each model's piece judge (how a number is cut into digits) to numbers written with pen digits, "
        "and record it in SHA256SUMS",
    )
    judge.add_argument("models", nargs="*", help="model names or files (default: every model in the model directory)")
    judge.add_argument("--pendigits", type=Path, required=True, help="UCI pendigits-orig.tra(.gz) of pen-stroke digits")
    judge.add_argument("--numbers", type=int, default=6000, help="numbers to write and fit to (default: %(default)s)")
    judge.add_argument("--seed", type=int, default=0)
    judge.set_defaults(run=_fit_judge)

    manifest = commands.add_parser("manifest", help="record the SHA-256 of every model file the server will trust")
    manifest.add_argument("folder", nargs="?", type=Path, help="folder of model files (default: the model directory)")
    manifest.set_defaults(run=_manifest)
    return parser


def _add_training_options(parser: argparse.ArgumentParser, pendigits_required: bool = False) -> None:
    parser.add_argument("architecture", choices=["cnn", "mlp", "logreg"])
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", "--learning-rate", type=float, help="initial learning rate (cosine schedule down to 0)")
    parser.add_argument("--momentum", type=float)
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--pen-variants", type=int, help="renderings of each pen digit per pen width")
    parser.add_argument(
        "--new-writers",
        action="store_true",
        help="widen the training data to new writers: vary each pen digit's strokes, distort MNIST elastically",
    )
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder with MNIST's IDX files; missing ones are downloaded (default: %(default)s)",
    )
    parser.add_argument(
        "--pendigits",
        type=Path,
        required=pendigits_required,
        help="UCI pendigits-orig.tra(.gz) of pen-stroke digits",
    )
    parser.add_argument("--limit", type=int, help="train on the first LIMIT MNIST digits only (quick runs)")


def _recipe(args: argparse.Namespace) -> Recipe:
    from app.nn import train

    return train.recipe_with(
        args.architecture,
        new_writers=args.new_writers,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        momentum=args.momentum,
        dropout=args.dropout,
        weight_decay=args.weight_decay,
        pen_variants=args.pen_variants,
        seed=args.seed,
    )


def _command_line() -> str:
    return "digitpad " + shlex.join(sys.argv[1:]) if sys.argv[1:] else ""


def resolve_model(name_or_path: str) -> Path:
    """A model file path, or a shipped model's name looked up in the model directory."""
    path = Path(name_or_path)
    if path.suffix == ".npz" or path.exists():
        return path
    from app.config import get_settings

    return get_settings().model_dir / f"{name_or_path}.npz"


def _serve(args: argparse.Namespace) -> int:
    import copy
    import os

    from app.core.process import one_blas_thread

    one_blas_thread()  # before numpy is imported here or in a worker process
    workers = args.workers or int(os.environ.get("WEB_CONCURRENCY", "1"))

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from app.config import get_settings

    settings = get_settings()
    level = settings.log_level
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["app"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    # Uvicorn shuts down gracefully on SIGINT or SIGTERM, then raises the signal again for the handler it
    # found; a stop that was asked for is a success, so that handler exits 0.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, _exit_cleanly)
    # httptools, with limits on the size and arrival time of a request's line and headers (app.web.connections).
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=None if args.reload else workers,
        reload=args.reload,
        loop="uvloop",
        http="app.web.connections:HeadLimitedProtocol",
        log_level=level,
        log_config=log_config,
        proxy_headers=True,
        access_log=False,
        timeout_keep_alive=settings.keep_alive_timeout,
        # Live-guess sockets (app.web.live): a message over twice the body limit closes the socket (1009);
        # a smaller one over it is answered `payload_too_large`. Answers go uncompressed, as over HTTP.
        ws_max_size=2 * settings.max_body_bytes,
        ws_per_message_deflate=False,
    )
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _predict(args: argparse.Namespace) -> int:
    from app.core.errors import DigitPadError
    from app.core.inference import predict_image
    from app.core.numbers import read_number
    from app.nn.network import ModelFileError, load_model
    from app.web.decoding import decode_image
    from app.web.responses import prediction_json, reading_json

    try:
        model = load_model(resolve_model(args.model))
    except ModelFileError as exc:
        print(f"digitpad: {exc}", file=sys.stderr)
        return 2
    status = 0
    for path in args.images:
        try:
            image = decode_image(path.read_bytes())
            if args.number:
                reading = read_number(model, image, top_k=2)
            else:
                result = predict_image(model, image, top_k=2, activations=False)
        except (OSError, DigitPadError) as exc:
            status = 1
            message = str(exc)
            print(json.dumps({"file": str(path), "error": message}) if args.json else f"{path}: {message}")
            continue
        if args.number:
            if args.json:
                print(json.dumps({"file": str(path), **reading_json(reading)}))
            else:
                digits = ", ".join(
                    f"{d.prediction.prediction} ({100 * d.prediction.guesses[0].probability:.1f} %)"
                    for d in reading.digits
                )
                print(f"{path}: {reading.text}: {digits}")
        elif args.json:
            print(json.dumps({"file": str(path), **prediction_json(result)}))
        else:
            first, second = result.guesses[:2]
            print(
                f"{path}: {first.digit} ({100 * first.probability:.1f} %), then {second.digit} "
                f"({100 * second.probability:.1f} %)"
            )
    return status


def _add_lab_options(train: argparse.ArgumentParser) -> None:
    lab = train.add_argument_group(
        "the training lab",
        "With --lab, train as /train does, with its settings and figures: the packaged MNIST (the first "
        "--train-size digits; validation on digits 50,000 to 59,999), no augmentation, no pen strokes.",
    )
    lab.add_argument("--lab", action="store_true", help="train a lab run instead of a shipped model's recipe")
    lab.add_argument("--settings", help="the run's settings as POST /api/training takes them: JSON, or @FILE")
    lab.add_argument("--hidden", type=int, nargs="+", metavar="UNITS", help="units of each hidden layer")
    lab.add_argument("--activation", choices=["sigmoid", "relu", "linear"])
    lab.add_argument("--train-size", type=int, help="training digits (500 to 50,000)")
    lab.add_argument("--json", action="store_true", help="print each event as a JSON line, as the events stream does")


def _train_lab(args: argparse.Namespace) -> int:
    """`digitpad train --lab`: a lab run on the command line, reporting what the events stream reports."""
    from app.core.process import keep_freed_memory
    from app.core.runs import cache_key, model_name
    from app.nn import lab

    keep_freed_memory()
    given = {
        "hidden": args.hidden,
        "activation": args.activation,
        "train_size": args.train_size,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "momentum": args.momentum,
        "dropout": args.dropout,
        "seed": args.seed,
    }
    try:
        if args.settings:
            text = Path(args.settings[1:]).read_text() if args.settings.startswith("@") else args.settings
            given = {**json.loads(text), **{k: v for k, v in given.items() if v is not None}}
            architecture = given.pop("architecture", args.architecture)
        else:
            architecture = args.architecture
        if args.weight_decay is not None or args.pendigits or args.limit or args.extra:
            raise lab.LabSettingsError(
                "--weight-decay, --pendigits, --limit and --extra are the shipped recipes' settings, not the lab's."
            )
        settings = lab.LabSettings.make(architecture, **given)
    except (OSError, ValueError) as exc:
        print(f"digitpad: {exc}", file=sys.stderr)
        return 2
    name = model_name(cache_key(settings))
    out = args.out or Path(f"{name}.npz")

    def emit(kind: str, data: dict[str, object]) -> None:
        if args.json:
            print(json.dumps({"event": kind, "data": data}), flush=True)
        elif data.get("epoch_end"):
            print(_epoch_line(data), flush=True)

    print(
        f"training {settings.title} ({lab.parameter_count(settings):,} weights) on {settings.train_size:,} digits "
        f"as {name}",
        file=sys.stderr,
    )
    try:
        result = lab.run(settings, name, emit)
    except lab.Diverged as exc:
        if args.json:
            print(json.dumps({"event": "diverged", "data": exc.event()}))
        print(f"digitpad: {exc.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("digitpad: stopped", file=sys.stderr)
        return 130
    result.model.save(out)
    metrics = result.metrics
    if args.json:
        print(json.dumps({"event": "done", "data": {"model": name, "metrics": metrics, "misread": result.misread}}))
    else:
        val = metrics["validation"]
        print(
            f"done: validation {100 * val['accuracy']:.2f} % (log-likelihood {val['log_likelihood']:.4f}), test "
            f"{100 * metrics['test']['accuracy']:.2f} %; {metrics['epochs']} epochs, {metrics['steps']:,} steps in "
            f"{metrics['wall_time_s']:.1f} s ({metrics['examples_per_s'] or 0:,} digits/s); wrote {out}"
        )
    return 0


def _epoch_line(data: dict[str, object]) -> str:
    """An epoch's figures, as the page shows them."""
    d: dict[str, Any] = dict(data)
    speed = f"  {d['examples_per_s']:,} digits/s" if d.get("examples_per_s") else ""
    return (
        f"epoch {d['epoch']}/{d['epochs']}  step {d['step']:,}/{d['steps']:,}  "
        f"log-likelihood {d['log_likelihood']:.4f} (loss {d['loss']:.4f})  train {100 * d['train_accuracy']:.2f} %  "
        f"validation {100 * d['validation_accuracy']:.2f} % (log-likelihood {d['validation_log_likelihood']:.4f})"
        + speed
    )


def _train(args: argparse.Namespace) -> int:
    if args.lab or args.settings:
        return _train_lab(args)
    from app.core.process import keep_freed_memory
    from app.nn import train
    from app.nn.data import DataError

    keep_freed_memory()
    out = args.out or resolve_model(args.architecture)
    try:
        model = train.run(
            args.architecture,
            _recipe(args),
            args.data_dir,
            args.pendigits,
            out,
            args.limit,
            _command_line(),
            args.extra,
        )
    except DataError as exc:
        print(f"digitpad: {exc}", file=sys.stderr)
        return 2
    test = model.meta["metrics"]["test"]
    print(
        f"wrote {out}: test accuracy {100 * test['accuracy']:.2f} % (top-2 {100 * test['top2_accuracy']:.2f} %)"
        + (f", pen strokes of unseen writers {100 * test['pen_accuracy']:.2f} %" if "pen_accuracy" in test else "")
    )
    return 0


def _crossval(args: argparse.Namespace) -> int:
    from app.core.process import keep_freed_memory, one_blas_thread

    if args.jobs > 1:
        one_blas_thread()  # for the worker processes, which start their BLAS after this
    keep_freed_memory()
    from app.nn import crossval
    from app.nn.data import DataError, load_pendigits

    out = args.out or resolve_model(args.architecture).with_suffix(".crossval.json")
    try:
        previous = json.loads(out.read_text()) if args.resume and out.is_file() else None
        report = crossval.crossval(
            args.architecture,
            _recipe(args),
            args.data_dir,
            args.pendigits,
            folds=args.folds,
            only=args.only,
            jobs=args.jobs,
            limit=args.limit,
            command=_command_line(),
            on_fold=lambda partial: crossval.save_report(partial, out),
            previous=previous,
        )
    except (DataError, ValueError) as exc:
        print(f"digitpad: {exc}", file=sys.stderr)
        return 2
    crossval.save_report(report, out)
    if args.error_sheet:
        crossval.error_sheet(report, load_pendigits(args.pendigits)).save(args.error_sheet)
    print(crossval.format_summary(report))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from app.nn.data import DataError, load_mnist, mnist_inputs
    from app.nn.evaluate import accuracy_report, format_report, predict_batches
    from app.nn.network import ModelFileError, load_model
    from app.nn.preprocess import binarize

    try:
        model = load_model(resolve_model(args.model))
        images, labels = load_mnist(args.data_dir, "test")
    except (ModelFileError, DataError) as exc:
        print(f"digitpad: {exc}", file=sys.stderr)
        return 2
    x = binarize(mnist_inputs(images, "preprocessing the MNIST test set"))
    report = accuracy_report(predict_batches(model.network, x), labels)
    if args.json:
        print(json.dumps({"model": model.name, **report}))
    else:
        print(f"model {model.name} ({model.path})\n{format_report(report)}")
    return 0


def _pack_mnist(args: argparse.Namespace) -> int:
    from app.nn.data import DataError, pack_mnist

    try:
        paths = pack_mnist(args.data_dir)
    except DataError as exc:
        print(f"digitpad: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def _fit_judge(args: argparse.Namespace) -> int:
    from app.config import get_settings
    from app.nn.data import DataError, load_pendigits
    from app.nn.judge import judge_path
    from app.nn.judge_fit import fit_for
    from app.nn.manifest import write_manifest
    from app.nn.network import ModelFileError, load_model
    from app.nn.stimuli import index_paths_for

    if args.numbers < 1:
        print("digitpad: --numbers must be at least 1", file=sys.stderr)
        return 2
    paths = [resolve_model(name) for name in args.models] or index_paths_for(get_settings().model_dir)
    if not paths:
        print("digitpad: no model files to fit a judge for", file=sys.stderr)
        return 2
    try:
        pen_digits = load_pendigits(args.pendigits)
    except DataError as exc:
        print(f"digitpad: {exc}", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        try:
            model = load_model(path, judge=False)  # a judge there may be of the model before it was retrained
        except ModelFileError as exc:
            status = 1
            print(f"digitpad: {exc}", file=sys.stderr)
            continue
        print(f"{path.name}: writing {args.numbers} numbers and weighing their pieces...", file=sys.stderr)

        def written(count: int) -> None:
            if count % 1000 == 0 or count == args.numbers:
                print(f"  {count} of {args.numbers} numbers", file=sys.stderr)

        try:
            fitted = fit_for(path, model.network, pen_digits, args.numbers, args.seed, written)
        except ValueError as exc:
            print(f"digitpad: {exc}", file=sys.stderr)
            return 2
        where = judge_path(path)
        fitted.judge.save(where)
        write_manifest(path.parent, [where.name])
        report = ", ".join(f"{key} {value}" for key, value in fitted.report.items())
        print(f"wrote {where} ({where.stat().st_size / 1e3:.0f} KB): {report}")
    return status


def _manifest(args: argparse.Namespace) -> int:
    from app.config import get_settings
    from app.nn.manifest import read_manifest, write_manifest

    folder = args.folder or get_settings().model_dir
    if not folder.is_dir():
        print(f"digitpad: {folder} is not a folder", file=sys.stderr)
        return 2
    path = write_manifest(folder)
    for name, digest in read_manifest(folder).items():
        print(f"{digest}  {name}")
    print(f"wrote {path}", file=sys.stderr)
    return 0


def _with_database(work: Callable[[Engine, str], int]) -> int:
    """`work(engine, url as shown)` on the configured database (DIGITPAD_DATABASE_URL, or SQLite in
    DIGITPAD_DATA_DIR); a line on stderr and status 2 when the database cannot answer."""
    from app.config import get_settings
    from app.core.storage.database import (
        StorageUnavailable,
        create_database_engine,
        database_url,
        shown,
        unavailable_reason,
    )

    settings = get_settings()
    url = database_url(settings)
    try:
        engine = create_database_engine(url, settings.database_timeout)
    except StorageUnavailable as exc:
        print(f"digitpad: {exc.reason}", file=sys.stderr)
        return 2
    try:
        return work(engine, shown(url))
    except Exception as exc:
        reason = unavailable_reason(exc)
        if reason is None:
            raise
        print(f"digitpad: the database {shown(url)} cannot answer: {reason}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


def _ready(engine: Engine, where: str) -> bool:
    """Whether the schema is at the latest revision; says what to do on stderr when it is not."""
    from app.core.storage.database import current_revision, head_revision

    if (revision := current_revision(engine)) == head_revision():
        return True
    print(
        f"digitpad: the database {where} is at schema revision {revision or 'none'}, not {head_revision()}; "
        "run `digitpad db upgrade`",
        file=sys.stderr,
    )
    return False


def _db_upgrade(args: argparse.Namespace) -> int:
    from app.core.storage.database import head_revision, upgrade

    def work(engine: Engine, where: str) -> int:
        revision = upgrade(engine, args.revision)
        latest = " (the latest)" if revision == head_revision() else ""
        print(f"{where}: schema revision {revision}{latest}")
        return 0

    return _with_database(work)


def _corrections_export(args: argparse.Namespace) -> int:
    from app.core import corrections

    def work(engine: Engine, where: str) -> int:
        if not _ready(engine, where):
            return 2
        count, paths = corrections.export(engine, args.out, args.format)
        print(f"wrote {count} corrections to {', '.join(map(str, paths))}")
        return 0

    return _with_database(work)


def _corrections_stats(args: argparse.Namespace) -> int:
    from app.core import corrections
    from app.web.responses import correction_stats_json

    def work(engine: Engine, where: str) -> int:
        if not _ready(engine, where):
            return 2
        stats = corrections.stats(engine)
        if args.json:
            print(json.dumps(correction_stats_json(stats)))
            return 0
        print(f"{stats.total} corrections in {where} ({stats.confirmations} of them confirm the model's guess)")
        print("digit  saved  misread")
        for digit in corrections.DIGITS:
            rate = stats.misread_rate(digit)
            print(f"{digit:>5}  {stats.by_label[digit]:>5}  {'-' if rate is None else f'{100 * rate:.0f} %':>7}")
        for model, count in stats.by_model.items():
            print(f"model {model}: {count}")
        return 0

    return _with_database(work)


def _index(args: argparse.Namespace) -> int:
    from app.config import get_settings
    from app.nn.data import DataError, bundled_mnist
    from app.nn.stimuli import index_paths_for, write_indexes

    folder = args.folder or get_settings().model_dir
    if not folder.is_dir():
        print(f"digitpad: {folder} is not a folder", file=sys.stderr)
        return 2
    if not index_paths_for(folder):
        print(f"digitpad: {folder} has no model files", file=sys.stderr)
        return 2
    try:
        bits, labels = bundled_mnist("test")
    except DataError as exc:
        print(f"digitpad: {exc}", file=sys.stderr)
        return 2
    status = 0
    for result in write_indexes(folder, bits, labels):
        if result.error:
            status = 1
            print(f"digitpad: {result.model}: {result.error}", file=sys.stderr)
        else:
            print(f"wrote {result.path} ({result.size / 1e3:.0f} KB) in {result.seconds:.1f} s")
    return status

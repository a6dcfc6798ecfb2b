"""BiGR Studio in the browser: `bigr-studio` (or `python app.py`) serves the bundled model on
http://127.0.0.1:7860."""
from __future__ import annotations

import argparse
import getpass
import logging
import re
import sys
from pathlib import Path

from .accounts import Accounts, add_user
from .api import PREFIX, api_router, body_limit
from .gate import Gate
from .options import BUNDLED, add_model_args, load_engine, model_name, real, whole, with_batching
from .outputs import Outputs
from .pool import EnginePool, sample_on_one_thread, serving_devices
from ..engine import DEFAULT_WEIGHTS, Engine
from ..errors import BiGRError
from ..model.hub import OFFICIAL_MODELS
from ..images import EDITOR_LIMIT, set_max_pixels


OPEN_REFUSED = """error: {where} would let anyone who reaches this server use it, with no login.
Add a user and serve with accounts:
    bigr-studio add-user NAME --auth-file users.txt     (asks for the password, stores only its hash)
    bigr-studio {where} --auth-file users.txt
or --auth NAME:PASSWORD for a quick test; or, knowingly, --insecure-no-auth."""


def door(accounts: Accounts, outputs: Outputs | None = None, admins: frozenset[str] = frozenset(),
         studio=None, max_file_size: str = "20mb") -> dict:
    """gradio's launch options: the login (with accounts), the gate in front of every route, which lets a user
    download only their own results from `outputs` (an admin, anyone's), and the HTTP API (`api`) that runs the
    tasks of `studio` (the page's, `build_ui(...).studio`) beside the page, taking bodies of up to
    `body_limit(max_file_size)`."""
    from starlette.middleware import Middleware

    login = dict(auth=accounts.check, auth_message="BiGR Studio: log in with your account") if accounts else {}
    gate = Middleware(Gate, locked=bool(accounts), may_read=own_results(outputs, admins),
                      limits={f"{PREFIX}/": body_limit(size_in_bytes(max_file_size))})
    app = {"middleware": [gate], "openapi_url": f"{PREFIX}/openapi.json", "docs_url": f"{PREFIX}/docs"}
    if studio is not None:
        app["routes"] = api_router(studio.service, outputs, studio.sessions, models=lambda: list(studio.models)).routes
    return dict(app_kwargs=app, **login)


def own_results(outputs: Outputs | None, admins: frozenset[str] = frozenset()):
    """may_read for the gate, beside the files handed to each user: a file under the outputs folder if it is (the
    thumbnail of) the user's picture; any file for an admin."""
    root = outputs.root.resolve() if outputs is not None else None

    def may_read(user: str, path: str) -> bool:
        if user in admins:
            return True
        target = Path(path).resolve()
        return root is not None and target.is_relative_to(root) and f"user:{user}" in outputs.history.owners_of(target)

    return may_read


def add_user_main(argv: list[str]) -> int:
    """`bigr-studio add-user NAME [--auth-file FILE]`: asks for a password twice, stores its scrypt hash."""
    ap = argparse.ArgumentParser(prog="bigr-studio add-user", description=add_user_main.__doc__)
    ap.add_argument("name")
    ap.add_argument("--auth-file", type=Path, default=Path("users.txt"), help="the users file (default: users.txt)")
    args = ap.parse_args(argv)
    password = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != password:
        print("error: the two passwords differ; nothing changed", file=sys.stderr)
        return 2
    try:
        add_user(args.auth_file, args.name, password)
    except BiGRError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.name} can log in to servers started with --auth-file {args.auth_file}")
    return 0


UNITS = {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30, "tb": 2**40}


def size_in_bytes(size: str) -> int:
    """A size as `file_size` takes it, in bytes."""
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", size.strip().lower()).groups()
    return int(float(number) * UNITS[unit or "b"])


def file_size(text: str) -> str:
    """An argparse type: a size as gradio reads it (a number with b, kb, mb, gb or tb)."""
    if not re.fullmatch(r"\d+(\.\d+)?\s*(b|kb|mb|gb|tb)?", text.strip().lower()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 500kb, 20mb or 1gb")
    return text.strip().lower()


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bigr-studio", description=__doc__)
    add_model_args(ap)
    ap.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    ap.add_argument("--port", type=whole(1, 65535), default=7860)
    ap.add_argument("--share", action="store_true", help="also open a public share link (off by default)")
    ap.add_argument("--auth", action="append", metavar="NAME:PASSWORD", default=None,
                    help="a user who may log in (repeatable); --auth-file keeps passwords out of the command line")
    ap.add_argument("--auth-file", type=Path, default=None,
                    help="users with hashed passwords, written by `bigr-studio add-user NAME --auth-file FILE`")
    ap.add_argument("--admin", action="append", metavar="NAME", default=[],
                    help="a user whose History shows every user's pictures, and who may download them (repeatable)")
    ap.add_argument("--insecure-no-auth", action="store_true",
                    help="serve beyond loopback (or a share link) with no login: anyone who reaches it can use it")
    ap.add_argument("--max-samples", type=whole(1), default=8, help="most samples one request may ask for")
    ap.add_argument("--max-file-size", type=file_size, default="20mb", help="largest upload accepted (e.g. 20mb, 1gb)")
    ap.add_argument("--max-pixels", type=whole(1), default=40_000_000, help="largest picture accepted, in pixels")
    ap.add_argument("--editor-limit", type=whole(64), default=EDITOR_LIMIT,
                    help="pictures longer than this (px) go into the editors as reduced working copies; edits and "
                         "downloads keep the original's full size")
    ap.add_argument("--max-batch", type=whole(1), default=16,
                    help="most pictures sampled as one batch, from requests of several users (1: no batching)")
    ap.add_argument("--batch-window", type=real(0), default=1.0,
                    help="seconds a request waits for others to share its batch (they also gather while the "
                         "device is busy)")
    ap.add_argument("--concurrency", type=whole(1), default=None,
                    help="requests handled at the same time (default: --max-batch per device; 1 without batching)")
    ap.add_argument("--sampling-threads", type=whole(1), default=None,
                    help="torch threads of each CPU device's sampling thread (default: every core, one fewer on a "
                         "loopback-only server, whose browser shares the machine; the server's other threads use one)")
    ap.add_argument("--log-batches", action="store_true", help="log every batch sampled (its rows and requests)")
    ap.add_argument("--max-waiting-per-user", type=whole(1), default=4,
                    help="requests one user (or, without accounts, one browser) may have in progress at once on a "
                         "server others reach; the next is refused with a message")
    ap.add_argument("--queue-size", type=whole(1), default=64, help="requests waiting beyond this are turned away")
    ap.add_argument("--outputs", type=Path, default=None,
                    help="folder where every result is kept, by date, with a history index (default: ./outputs "
                         "when the server listens on loopback only; off beyond loopback unless given)")
    ap.add_argument("--no-outputs", action="store_true", help="keep results only for the browser session")
    ap.add_argument("--no-previews", action="store_true",
                    help="show results only when done, not the pictures forming while they sample")
    args = ap.parse_args(argv)
    return args


def load_app_engine(args, device: str | None = None) -> Engine:
    """The model the flags name, on `device` (default: --device)."""
    args = argparse.Namespace(**{**vars(args), "device": device or args.device})
    if not (args.bigr or args.bae or args.weights or args.model) and not (DEFAULT_WEIGHTS / "config.json").is_file():
        logging.warning("the bundled model is not in %s yet; serving a random tiny model", DEFAULT_WEIGHTS)
        from ..tiny import random_tiny_engine

        return with_batching(random_tiny_engine(args.device, precision=args.precision), args)
    return load_engine(args)


def load_pool(args, threads: int | None = None) -> EnginePool:
    """An engine on each device --device names, each batching requests as the flags say."""
    engines = [load_app_engine(args, device) for device in serving_devices(args.device)]
    return EnginePool(engines, window=args.batch_window, max_batch=args.max_batch, threads=threads)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def outputs_folder(args) -> Path | None:
    """Where results are kept: --outputs; else ./outputs for a local user (loopback, no share link), none for a
    server others reach."""
    if args.no_outputs:
        return None
    if args.outputs is not None:
        return args.outputs
    return Path("outputs") if local_only(args) else None


def local_only(args) -> bool:
    """Whether only this machine reaches the server (loopback, no share link)."""
    return args.host in LOOPBACK and not args.share


def sampling_threads(cores: int, local: bool) -> int:
    """Every core for a server others reach; one fewer where the page's browser runs on this machine too (with the
    browser drawing, an OpenMP team on every core waits on the one preempted: measured in benchmarks/browser.py)."""
    return max(1, cores - 1) if local else cores


def model_menu(args, engine: Engine) -> dict:
    """The app's model picker: the model served at start, the bundled one, and every official model."""
    options = dict(compile=args.compile, precision=args.precision, graphs=args.graphs)

    def load(name, device):
        return with_batching(Engine.from_pretrained(name, device=device, **options), args)

    bundled_here = (DEFAULT_WEIGHTS / "config.json").is_file()
    start = model_name(args, engine)
    # each loads on the device it is given, again when picked again: no second model kept in memory
    menu = {start: lambda device: load_app_engine(args, device)}
    if bundled_here:
        menu.setdefault(BUNDLED, lambda device: load(None, device))
    for name in OFFICIAL_MODELS:
        menu.setdefault(name, lambda device, name=name: load(name, device))
    return menu


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["add-user"]:
        return add_user_main(argv[1:])
    args = parse_args(argv)
    try:
        accounts = Accounts.from_flags(args.auth, args.auth_file)
    except BiGRError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    unknown = [name for name in args.admin if name not in accounts.users]
    if unknown:
        print(f"error: --admin {unknown[0]}: no such user{' (serve with --auth or --auth-file)' if not accounts else ''}",
              file=sys.stderr)
        return 2
    if not local_only(args) and not accounts:
        if not args.insecure_no_auth:
            print(OPEN_REFUSED.format(where="--share" if args.share else f"--host {args.host}"), file=sys.stderr)
            return 2
        logging.warning("serving with no login beyond loopback (--insecure-no-auth): anyone who reaches %s can use "
                        "it, and its results", "the share link" if args.share else f"{args.host}:{args.port}")
    cores = sample_on_one_thread()
    if args.log_batches:
        logging.getLogger("bigr_app.sampling.batching").setLevel(logging.DEBUG)
    try:
        set_max_pixels(args.max_pixels)
        pool = load_pool(args, threads=args.sampling_threads or sampling_threads(cores, local_only(args)))
    except BiGRError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from .ui import CSS, build_ui

    folder = outputs_folder(args)
    outputs = Outputs(folder) if folder is not None else None
    demo = build_ui(pool, max_samples=args.max_samples, models=model_menu(args, pool.engines[0]),
                    editor_limit=args.editor_limit, outputs=outputs, per_browser=not local_only(args),
                    previews=not args.no_previews, per_user=bool(accounts),
                    max_waiting_per_user=args.max_waiting_per_user, admins=frozenset(args.admin))
    # batching needs requests handled side by side: they wait in the batcher, and sample one batch per device
    concurrency = args.concurrency or (args.max_batch * len(pool.engines) if args.max_batch > 1 else 1)
    engine = pool.engines[0]
    logging.info("sampling on %s in %s; batches of up to %d (%s), %d requests handled at once", ", ".join(pool.devices),
                 engine.precision, args.max_batch, "exact" if engine.exact_batches else "fast", concurrency)
    logging.info("results kept in %s", outputs.root if outputs else "the browser session only (--outputs DIR keeps them)")
    demo.queue(default_concurrency_limit=concurrency, max_size=args.queue_size)
    if accounts:
        logging.info("%d user(s) may log in", len(accounts.users))
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=args.max_file_size,
                css=CSS, show_error=True, allowed_paths=[str(outputs.root)] if outputs else None,
                **door(accounts, outputs, frozenset(args.admin), demo.studio, args.max_file_size))
    return 0


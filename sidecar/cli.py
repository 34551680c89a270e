"""Command line: ``python -m sidecar`` (or ``sidecar``).

::

    sidecar --config FILE                 run until SIGTERM/SIGINT
    sidecar --config FILE --once          process what file sources hold now, then exit
    sidecar --config FILE --check-config  validate and exit (0, or 2 naming the field)
    sidecar decrypt FILE [FILE ...]       print an archive file's JSON lines
    sidecar purge --config FILE --as-of YYYY-MM-DD
                                          remove expired day folders, print them

Exit status: 0 on success, 1 when ``decrypt`` met a damaged or truncated file (after
printing every good record), 2 for a usage or configuration error. The sidecar's own
log lines go to stderr and never contain record contents.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from redactor.errors import PolicyError
from sidecar.config import Config, FileSinkConfig, ForwardSinkConfig, SyslogSinkConfig, load
from sidecar.errors import ArchiveError, ConfigError

__all__ = ["main"]

log = logging.getLogger("sidecar")
_DEFAULT_KEY_ENV = "SIDECAR_ARCHIVE_KEY"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    _setup_logging()
    try:
        if args[:1] == ["decrypt"]:
            return _decrypt(args[1:])
        if args[:1] == ["purge"]:
            return _purge(args[1:])
        if args[:1] == ["run"]:
            args = args[1:]
        return _run(args)
    except (ConfigError, PolicyError) as exc:
        print(f"sidecar: configuration error: {exc}", file=sys.stderr)
        return 2


class _LazyRedactingFilter(logging.Filter):
    """The redactor's logging filter, compiled on the first record that is emitted.

    The sidecar's own lines never hold record contents by construction; the filter is
    belt and braces. Compiling it lazily keeps a quiet process (``SIDECAR_LOG_LEVEL=
    WARNING`` with worker processes doing the redaction) from paying for a compile it
    never uses.
    """

    def __init__(self) -> None:
        super().__init__()
        self._inner: logging.Filter | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self._inner is None:
            from redactor.stdlib import RedactingFilter

            self._inner = RedactingFilter()
        return bool(self._inner.filter(record))


def _setup_logging() -> None:
    """Log to stderr, through the redactor: belt and braces for the sidecar's own lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s sidecar: %(message)s"))
    handler.addFilter(_LazyRedactingFilter())
    log.handlers[:] = [handler]
    log.setLevel(os.environ.get("SIDECAR_LOG_LEVEL", "INFO").upper())
    log.propagate = False


def _run(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sidecar", description="PCI-safe log shipper")
    parser.add_argument("--config", required=True, help="the sidecar's TOML configuration")
    parser.add_argument(
        "--once",
        action="store_true",
        help="process what file sources hold now, flush every sink, save checkpoints, exit",
    )
    parser.add_argument(
        "--check-config", action="store_true", help="validate the configuration and exit"
    )
    opts = parser.parse_args(args)
    config = load(opts.config)
    if opts.check_config:
        _check_secrets(config)
        print(f"sidecar: {opts.config}: configuration is valid")
        return 0
    batches = None
    if config.pipeline.workers:
        if config.pipeline.policy is not None:  # a bad policy fails here, not in workers
            from redactor import Policy

            Policy.from_toml(config.pipeline.policy)
        # Workers first, before the rest of the sidecar is imported: their start-up
        # (interpreter, imports, the compiled database) is the longest path to the
        # first batch.
        from sidecar.pipeline.workers import BatchRunner

        batches = BatchRunner(config.pipeline.policy, config.retention, config.pipeline.workers)
    try:
        from sidecar.runner import Runner

        runner = Runner(config, once=opts.once, batches=batches, settle_heap=True)
    except BaseException:
        if batches is not None:
            batches.close()
        raise
    return asyncio.run(runner.run())


def _check_secrets(config: Config) -> None:
    """Load archive and buffer keys and the policy too: a bad one is a configuration error."""
    from redactor import Policy
    from sidecar.archive.keys import load_key

    if config.pipeline.policy is not None:
        Policy.from_toml(config.pipeline.policy)
    for sink in config.sinks:
        if isinstance(sink, FileSinkConfig):
            env_name = sink.encryption_key_env
        elif isinstance(sink, (ForwardSinkConfig, SyslogSinkConfig)):
            env_name = sink.buffer.encryption_key_env
        else:
            env_name = None
        if env_name is not None:
            load_key(env_name, os.environ)


def _decrypt(args: list[str]) -> int:
    from sidecar.archive.keys import load_keyring
    from sidecar.archive.reader import iter_lines

    parser = argparse.ArgumentParser(
        prog="sidecar decrypt", description="print an archive file's JSON lines to stdout"
    )
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument(
        "--key-env",
        default=_DEFAULT_KEY_ENV,
        help=f"environment variable with the base64 key (default {_DEFAULT_KEY_ENV})",
    )
    parser.add_argument(
        "--old-keys-env", help="environment variable with older keys, comma-separated"
    )
    opts = parser.parse_args(args)
    # Keys are loaded only when set: plaintext archives need none, and the reader tells
    # an encrypted file by its content and names the missing key id.
    current = opts.key_env if opts.key_env in os.environ else None
    keyring = load_keyring(current, opts.old_keys_env, os.environ)
    out = sys.stdout.buffer
    status = 0
    for file in opts.files:
        try:
            for line in iter_lines(file, keyring):
                out.write(line.rstrip(b"\n") + b"\n")
        except ArchiveError as exc:
            out.flush()
            print(f"sidecar decrypt: {exc}", file=sys.stderr)
            status = 1
        except OSError as exc:
            print(f"sidecar decrypt: {file}: {exc.strerror}", file=sys.stderr)
            status = 1
    out.flush()
    return status


def _purge(args: list[str]) -> int:
    from sidecar.archive.purge import purge

    parser = argparse.ArgumentParser(
        prog="sidecar purge", description="remove archive day folders past their retention"
    )
    parser.add_argument("--config", required=True)
    parser.add_argument(
        "--as-of", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)"
    )
    opts = parser.parse_args(args)
    config = load(opts.config)
    from sidecar.runner import utc_today

    as_of = opts.as_of if opts.as_of is not None else utc_today()
    for sink in config.sinks:
        if isinstance(sink, FileSinkConfig):
            for folder in purge(Path(sink.path), config.retention.tiers, as_of):
                print(folder)
    return 0

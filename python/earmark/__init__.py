"""earmark for Python: find, verify and make earmark's inaudible marker.

earmark stamps recordings with an inaudible keyed watermark (the *marker*:
the signer's key fingerprint and a track id), the artist's Ed25519
signature in the audio (the *seal*), a signed manifest and a machine-readable
"no AI training" declaration. This package is a thin layer over the same
Rust engine as the ``earmark`` command:

* :func:`verify` -- a file (path or bytes): the ``earmark verify --json`` object;
* :func:`detect` -- samples in a NumPy array: a :class:`Detection` or None;
* :func:`screen` -- many files, byte strings or arrays on Rust threads,
  yielding a :class:`ScreenResult` for each as it finishes;
* :func:`stamp` / :func:`stamp_array` -- stamp a file, bytes or an array;
* :func:`keygen` -- a new signing key, as ``earmark keygen`` writes it.

Errors about an input raise :class:`EarmarkError` (``.path`` names the file,
``.reason`` says what is wrong); bad arguments raise ``TypeError`` or
``ValueError``.

Example -- screen a folder of clips::

    import earmark
    for r in earmark.screen("clips/", workers=2):
        if r.error:
            print(r.name, "failed:", r.error.reason)
        elif r.marked:
            print(r.name, "carries", r.payload, "declared:", r.declaration)
"""

from __future__ import annotations

import json
import os
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, Union

import numpy as np

from . import _earmark
from ._earmark import EarmarkError

__all__ = [
    "AUDIO_EXTENSIONS",
    "Detection",
    "EarmarkError",
    "Key",
    "ScreenResult",
    "audio_files",
    "detect",
    "keygen",
    "screen",
    "stamp",
    "stamp_array",
    "verify",
]

__version__: str = _earmark.__version__

#: File extensions :func:`screen` picks up when it walks a folder.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4",
     ".aac", ".aif", ".aiff", ".aifc", ".caf", ".mka", ".mkv", ".webm"}
)

PathLike = Union[str, "os.PathLike[str]"]
Source = Union[PathLike, bytes, bytearray, memoryview]


def _trust_list(trust: Sequence[PathLike | bytes] | PathLike | bytes | None) -> list[str]:
    """Public keys to trust as PEM text or paths (one item or a list)."""
    if trust is None:
        return []
    if isinstance(trust, (str, bytes, os.PathLike)):
        trust = [trust]
    out = []
    for item in trust:
        if isinstance(item, (bytes, bytearray)):
            out.append(bytes(item).decode("ascii", errors="replace"))
        elif isinstance(item, (str, os.PathLike)):
            out.append(os.fspath(item))
        else:
            raise TypeError(f"trust items must be PEM text or paths, got {type(item).__name__}")
    return out


def _source(source: Source) -> bytes | str:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source) if isinstance(source, bytearray) else source
    if isinstance(source, memoryview):
        return source.tobytes()
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    raise TypeError(
        f"expected a path or the bytes of an audio file, got {type(source).__name__}"
    )


def _wm_key(wm_key: bytes | PathLike | None) -> bytes | str | None:
    if wm_key is None or isinstance(wm_key, bytes):
        return wm_key
    if isinstance(wm_key, (str, os.PathLike)):
        return os.fspath(wm_key)
    raise TypeError("wm_key must be raw key bytes or the path of a key file")


def verify(
    source: Source,
    trust: Sequence[PathLike | bytes] | PathLike | bytes | None = None,
    *,
    wm_key: bytes | PathLike | None = None,
    c2pa_trust: PathLike | None = None,
    name: str | None = None,
    search: bool = True,
) -> dict[str, Any]:
    """Verify one audio file: ``earmark verify --json``'s object, as a dict.

    ``source`` is a path or the bytes of a file (WAV, FLAC, MP3, Ogg
    Vorbis/Opus, M4A/AAC, AIFF, ...). ``trust`` lists the public keys to
    trust: PEM text or paths of ``.pub.pem`` files (or folders of them).
    ``wm_key`` is a private watermark key (raw bytes or a file), when the
    track was stamped with one. ``name`` names bytes in errors and in the
    result's ``path``. ``search=False`` skips the speed, tempo and pitch
    search that runs when no marker is found plainly (unmarked audio is
    checked several times faster; changed copies are missed).

    The dict has ``marked``, ``markers`` (payload, ``sync_z``,
    ``bit_agreement``, ``unit_starts``), ``seal``, ``manifest``,
    ``credentials`` (C2PA) and more; ``exit_code`` is added: what
    ``earmark verify`` would exit with (0 marked and consistent, 1 no
    marker, 3 invalid or contradicting, 4 marked but, with ``trust`` given,
    not by a trusted key: see ``trusted_signer``).

    Raises :class:`EarmarkError` when the input cannot be read as audio.
    """
    text, code = _earmark.verify(
        _source(source), _trust_list(trust), _wm_key(wm_key),
        None if c2pa_trust is None else os.fspath(c2pa_trust), name, search,
    )
    result = json.loads(text)
    result["exit_code"] = code
    return result


@dataclass(frozen=True)
class Detection:
    """A marker found in samples (see :func:`detect`)."""

    #: Fingerprint of the signer's key, 8 hex digits.
    key_fingerprint: str
    #: The track id the signer chose.
    track_id: int
    #: Synchronisation z-score (a marker needs 4.0 or more).
    sync_z: float
    #: Fraction of coded bits that agree with the payload (0.5 is chance).
    bit_agreement: float
    #: Start times (seconds) of the marker units found on their own.
    unit_starts: tuple[float, ...]
    #: The speed, tempo or pitch change undone to find it, in words, or None.
    change: str | None
    #: The seal: ``"valid"``, ``"invalid"`` or ``"unchecked"``; None if not read.
    seal: str | None
    #: Whether the seal's signer is in ``trust`` (None when not known).
    trusted: bool | None
    #: The policy the seal declares (e.g. ``"no-ai-training"``), if read.
    policy: str | None
    #: The whole verification (``earmark verify --json``'s object).
    report: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def payload(self) -> str:
        """The payload as ``KEY:TRACK`` (what ``earmark`` prints)."""
        return f"{self.key_fingerprint}:{self.track_id}"


def _detection(report: dict[str, Any]) -> Detection | None:
    if not report.get("marked"):
        return None
    m = report["markers"][0]
    seal = report.get("seal") or {}
    return Detection(
        key_fingerprint=m["payload"]["key_fingerprint"],
        track_id=m["payload"]["track_id"],
        sync_z=m["sync_z"],
        bit_agreement=m["bit_agreement"],
        unit_starts=tuple(m["unit_starts"]),
        change=report.get("change"),
        seal=seal.get("status"),
        trusted=seal.get("trusted"),
        policy=seal.get("policy"),
        report=report,
    )


def detect(
    samples: np.ndarray,
    sample_rate: int,
    *,
    trust: Sequence[PathLike | bytes] | PathLike | bytes | None = None,
    wm_key: bytes | PathLike | None = None,
    search: bool = True,
) -> Detection | None:
    """Look for the marker in samples held in memory.

    ``samples`` is a float32, float64 (full scale ±1.0) or int16 array,
    shaped ``(n,)`` for mono or ``(n, channels)``, at any ``sample_rate``
    from 4 kHz to 768 kHz (a 16 kHz mono dataset clip is fine). A
    C-contiguous float32 array is read in place; others are converted in
    small chunks. The search undoes speed, tempo and pitch changes
    (``search=False`` skips it: faster on unmarked audio, blind to changed
    copies), and the seal is read (checked against ``trust`` when given).

    Returns a :class:`Detection`, or None when no marker is found
    (``detect(...).report`` has the full verification when one is).
    Raises ``TypeError`` for other dtypes and ``ValueError`` for empty
    arrays, NaN or infinite samples, a bad shape or rate.
    """
    if not isinstance(samples, np.ndarray):
        raise TypeError(f"samples must be a numpy.ndarray, got {type(samples).__name__}")
    rate = _rate(sample_rate)
    text, code = _earmark.detect(samples, rate, _trust_list(trust), _wm_key(wm_key), search)
    report = json.loads(text)
    report["exit_code"] = code
    return _detection(report)


def _rate(sample_rate: Any) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        if isinstance(sample_rate, float) and sample_rate.is_integer():
            return int(sample_rate)
        raise TypeError(f"sample_rate must be an integer number of Hz, got {sample_rate!r}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
    return int(sample_rate)


def stamp(
    source: Source,
    key: PathLike | bytes,
    out: PathLike | None = None,
    *,
    format: str | None = None,
    force: bool = False,
    title: str | None = None,
    artist: str | None = None,
    owner: str | None = None,
    track_id: int | None = None,
    strength: float | None = None,
    seal: bool = True,
    policy: str | None = None,
    terms_url: str | None = None,
    notice: str | None = None,
    created: float | Any | None = None,
    c2pa: bool = True,
    cert: PathLike | None = None,
    wm_key: bytes | PathLike | None = None,
    bitrate: int | None = None,
) -> dict[str, Any] | tuple[bytes, dict[str, Any]]:
    """Stamp a track, exactly as ``earmark stamp`` does.

    ``key`` is the artist's private key: a PEM file (``earmark keygen``) or
    its text. A path ``source`` is stamped into ``out`` (default
    ``NAME.earmark.flac`` beside it; ``.flac``, ``.wav`` or ``.mp3``, the
    last a lossy re-encode at ``bitrate`` kbit/s, 320 by default) with the sidecar
    manifest, never over an existing file unless ``force``; the result is
    ``earmark stamp --json``'s object. Bytes are stamped into bytes of
    ``format`` (``"flac"``, the default, or ``"wav"``), returned as
    ``(bytes, info)``.

    The options are the CLI's: ``title``, ``artist``, ``owner``,
    ``track_id`` (default: the song's id in the machine's track-id
    registry, else a new one it never gave out), ``strength`` (1.0), ``seal``, ``policy``
    (``"no-ai-training"``, the default; ``"no-genai-training"``,
    ``"no-data-mining"``, ``"search-only"``, ``"allow"``), ``terms_url``,
    ``notice``, ``created`` (a
    ``datetime`` or Unix seconds: pins the manifest's time), ``c2pa`` (sign
    Content Credentials, default on) with ``cert`` (the chain; default the
    ``NAME.cert.pem`` beside the key, else one made for the key) and
    ``wm_key``.
    """
    data, text = _earmark.stamp(
        _source(source), _key_text(key), None if out is None else os.fspath(out),
        format=format, force=force, title=title, artist=artist, owner=owner,
        track_id=track_id, strength=strength, seal=seal, policy=policy,
        terms_url=terms_url, notice=notice, created=_created(created), c2pa=c2pa,
        cert=None if cert is None else os.fspath(cert), wm_key=_wm_key(wm_key),
        bitrate=bitrate,
    )
    info = json.loads(text)
    return info if data is None else (data, info)


def _created(created: Any) -> float | None:
    """The manifest time as Unix seconds: from a datetime, a number or None."""
    if created is None or isinstance(created, (int, float)):
        return None if created is None else float(created)
    if hasattr(created, "timestamp"):
        return float(created.timestamp())
    raise TypeError("created must be a datetime or Unix seconds")


def _key_text(key: PathLike | bytes) -> str:
    if isinstance(key, (bytes, bytearray)):
        return bytes(key).decode("ascii", errors="replace")
    if isinstance(key, (str, os.PathLike)):
        return os.fspath(key)
    raise TypeError("key must be the path of a PEM file or its text")


def stamp_array(
    samples: np.ndarray,
    sample_rate: int,
    key: PathLike | bytes,
    *,
    with_info: bool = False,
    title: str | None = None,
    artist: str | None = None,
    owner: str | None = None,
    track_id: int | None = None,
    strength: float | None = None,
    seal: bool = True,
    policy: str | None = None,
    terms_url: str | None = None,
    notice: str | None = None,
    created: float | Any | None = None,
    wm_key: bytes | PathLike | None = None,
) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
    """Stamp samples in memory: the marked samples, same dtype and shape.

    ``samples`` as for :func:`detect` (float32, float64 or int16; ``(n,)`` or
    ``(n, channels)``). int16 output is rounded as a 16-bit file stores it,
    which is what the signed manifest's audio hash covers (float output:
    as 32-bit float). With ``with_info=True``, returns ``(marked, info)``
    where ``info`` holds the payload, the signed manifest and warnings. The
    options are :func:`stamp`'s. Audio that already carries a marker is
    refused with :class:`EarmarkError`.
    """
    if not isinstance(samples, np.ndarray):
        raise TypeError(f"samples must be a numpy.ndarray, got {type(samples).__name__}")
    marked, text = _earmark.stamp_array(
        samples, _rate(sample_rate), _key_text(key), title=title, artist=artist,
        owner=owner, track_id=track_id, strength=strength, seal=seal, policy=policy,
        terms_url=terms_url, notice=notice, created=_created(created), wm_key=_wm_key(wm_key),
    )
    return (marked, json.loads(text)) if with_info else marked


@dataclass(frozen=True)
class Key:
    """A new signing key (see :func:`keygen`)."""

    #: PKCS#8 PEM of the private key (``NAME.pem``; keep it secret).
    private_pem: str
    #: SPKI PEM of the public key (``NAME.pub.pem``; give it to verifiers).
    public_pem: str
    #: The self-issued X.509 chain that signs Content Credentials (``NAME.cert.pem``).
    certificate_pem: str
    #: SHA-256 fingerprint of the public key, hex.
    fingerprint: str

    def save(self, path: PathLike, *, force: bool = False) -> None:
        """Write ``NAME.pem`` (mode 0600), ``NAME.pub.pem`` and ``NAME.cert.pem``."""
        private = Path(path)
        stem = str(private)[:-4] if private.suffix == ".pem" else str(private)
        files = [(private, self.private_pem, 0o600),
                 (Path(stem + ".pub.pem"), self.public_pem, 0o644),
                 (Path(stem + ".cert.pem"), self.certificate_pem, 0o644)]
        if not force:
            for p, _, _ in files:
                if p.exists():
                    raise FileExistsError(f"{p}: file exists (use force=True to overwrite)")
        for p, text, mode in files:
            tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, p)


def keygen(name: str | None = None) -> Key:
    """Make a new Ed25519 signing key, as ``earmark keygen`` does.

    ``name`` goes into the certificate that signs Content Credentials
    (default: derived from the key). ``Key.save(path)`` writes the three
    PEM files the CLI writes, usable by ``earmark stamp --key``.
    """
    private, public, chain, fingerprint = _earmark.keygen(name)
    return Key(private, public, chain, fingerprint)


#: IPTC PLUS Data Mining codes by the policy names the CLI uses.
_POLICY_NAMES = {
    "DMI-PROHIBITED-AIMLTRAINING": "no-ai-training",
    "DMI-PROHIBITED-GENAIMLTRAINING": "no-genai-training",
    "DMI-PROHIBITED": "no-data-mining",
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING": "search-only",
    "DMI-ALLOWED": "allow",
}


@dataclass(frozen=True)
class ScreenResult:
    """One input's verdict from :func:`screen`."""

    #: Position of the input in the order given.
    index: int
    #: The input's name: its path, or the name given with it.
    name: str | None
    #: ``earmark verify --json``'s object plus ``exit_code``; None on error.
    report: Mapping[str, Any] | None
    #: Why the input could not be verified (an :class:`EarmarkError`), else None.
    error: EarmarkError | None

    @property
    def marked(self) -> bool:
        """Whether a marker was found."""
        return bool(self.report and self.report.get("marked"))

    @property
    def payload(self) -> str | None:
        """The strongest payload found, as ``KEY:TRACK``."""
        if not self.marked:
            return None
        p = self.report["markers"][0]["payload"]
        return f"{p['key_fingerprint']}:{p['track_id']}"

    @property
    def confidence(self) -> float | None:
        """The strongest marker's sync z-score (unmarked audio: below about 5)."""
        return self.report["markers"][0]["sync_z"] if self.marked else None

    @property
    def seal(self) -> str | None:
        """The seal's status (``"valid"``, ``"invalid"``, ``"unchecked"``) if read."""
        s = self.report and self.report.get("seal")
        return s["status"] if s else None

    @property
    def declaration(self) -> str | None:
        """The declared AI-training policy (a CLI policy name such as
        ``"no-ai-training"``): the seal's, else the manifest's."""
        if not self.report:
            return None
        s = self.report.get("seal")
        if s and s.get("policy"):
            return s["policy"]
        m = self.report.get("manifest")
        if m:
            uri = m["document"]["manifest"]["policy"]["plus_data_mining"]
            return _POLICY_NAMES.get(uri.rsplit("/", 1)[-1], "custom")
        return None

    def row(self) -> dict[str, Any]:
        """A flat record for a table (Parquet, CSV, a DataFrame)."""
        return {
            "path": self.name,
            "marked": self.marked,
            "payload": self.payload,
            "confidence": self.confidence,
            "seal": self.seal,
            "declaration": self.declaration,
            "exit_code": None if self.report is None else self.report["exit_code"],
            "error": None if self.error is None else str(self.error),
        }


def _error(path: str | None, reason: str) -> EarmarkError:
    err = EarmarkError(f"{path}: {reason}" if path else reason)
    err.path = path
    err.reason = reason
    return err


def audio_files(folder: PathLike) -> Iterator[str]:
    """The audio files under ``folder`` (recursively, sorted, by
    :data:`AUDIO_EXTENSIONS`): what :func:`screen` takes from a folder."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            if Path(f).suffix.lower() in AUDIO_EXTENSIONS:
                yield os.path.join(root, f)


def _items(inputs: Any) -> Iterable[Any]:
    if isinstance(inputs, (str, os.PathLike)) and Path(inputs).is_dir():
        return audio_files(inputs)
    if isinstance(inputs, (str, os.PathLike, bytes, np.ndarray, Mapping)):
        return [inputs]
    return inputs


def _progress(total: int | None, enabled: bool | None) -> Any:
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="file", desc="screening")


def screen(
    inputs: Any,
    *,
    workers: int | None = None,
    trust: Sequence[PathLike | bytes] | PathLike | bytes | None = None,
    wm_key: bytes | PathLike | None = None,
    c2pa_trust: PathLike | None = None,
    search: bool = True,
    ordered: bool = False,
    progress: bool | None = None,
) -> Iterator[ScreenResult]:
    """Verify many inputs on Rust threads, yielding results as they finish.

    ``inputs`` is a folder (its audio files, recursively, in sorted order),
    or any iterable (read lazily, so a generator of millions is fine) of:
    paths; bytes of audio files; ``(samples, sample_rate)`` pairs; or dicts
    as Hugging Face ``datasets`` gives them (``{"array", "sampling_rate",
    "path"}`` decoded, or ``{"bytes", "path"}`` not). ``workers`` defaults
    to the number of CPUs. The GIL is released while the workers run, and
    only a few more inputs than workers are held at once, so memory stays
    flat however many there are.

    A bad input does not stop the others: its :class:`ScreenResult` has
    ``error`` set (an :class:`EarmarkError` naming it) and ``report`` None.
    Results come as they finish (``ordered=True``: in input order).
    ``trust``, ``wm_key``, ``c2pa_trust`` and ``search`` are :func:`verify`'s
    (``search=False`` screens unmarked audio several times faster but
    misses sped-up, slowed and pitch-shifted copies). A
    progress bar is shown when stderr is a terminal and tqdm is installed
    (``progress=False`` turns it off).
    """
    workers = workers or os.cpu_count() or 1
    items = _items(inputs)
    total = len(items) if hasattr(items, "__len__") else None
    pool = _earmark.Screener(
        workers, _trust_list(trust), _wm_key(wm_key),
        None if c2pa_trust is None else os.fspath(c2pa_trust), search,
    )
    bar = _progress(total, progress)
    names: dict[int, str | None] = {}
    ready: dict[int, ScreenResult] = {}
    failed_early: deque[ScreenResult] = deque()
    next_out = 0
    in_flight = 0
    limit = 2 * workers
    it = iter(items)
    submitted = 0
    exhausted = False
    try:
        while True:
            while not exhausted and in_flight < limit:
                try:
                    item = next(it)
                except StopIteration:
                    exhausted = True
                    break
                index = submitted
                submitted += 1
                try:
                    names[index] = _submit(pool, index, item)
                    in_flight += 1
                except (TypeError, ValueError, EarmarkError, OSError) as e:
                    names[index] = _name_of(item)
                    err = e if isinstance(e, EarmarkError) else _error(names[index], str(e))
                    failed_early.append(ScreenResult(index, names[index], None, err))
            if failed_early:
                result = failed_early.popleft()
            elif in_flight:
                # Short waits, so Ctrl-C is handled between them.
                got = None
                while got is None:
                    got = pool.next(0.25)
                index, text, code, epath, reason = got
                in_flight -= 1
                if text is None:
                    result = ScreenResult(index, names[index], None,
                                          _error(epath or names[index], reason))
                else:
                    report = json.loads(text)
                    report["exit_code"] = code
                    result = ScreenResult(index, names[index], report, None)
            else:
                break
            if bar is not None:
                bar.update(1)
            if not ordered:
                names.pop(result.index, None)
                yield result
                continue
            ready[result.index] = result
            while next_out in ready:
                names.pop(next_out, None)
                yield ready.pop(next_out)
                next_out += 1
    finally:
        pool.close()
        if bar is not None:
            bar.close()


def _name_of(item: Any) -> str | None:
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    if isinstance(item, Mapping):
        p = item.get("path")
        return None if p is None else str(p)
    return None


def _submit(pool: Any, index: int, item: Any) -> str | None:
    """Queue one input; returns its name."""
    if isinstance(item, (str, os.PathLike)):
        path = os.fspath(item)
        pool.submit_path(index, path, path)
        return path
    if isinstance(item, (bytes, bytearray, memoryview)):
        pool.submit_bytes(index, bytes(item), None)
        return None
    if isinstance(item, Mapping):
        name = _name_of(item)
        if item.get("array") is not None:
            array = np.asarray(item["array"])
            pool.submit_samples(index, array, _rate(item.get("sampling_rate")), name)
        elif item.get("bytes") is not None:
            pool.submit_bytes(index, bytes(item["bytes"]), name)
        elif name is not None:
            pool.submit_path(index, name, name)
        else:
            raise ValueError("a dict input needs 'array' and 'sampling_rate', 'bytes' or 'path'")
        return name
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], np.ndarray):
        pool.submit_samples(index, item[0], _rate(item[1]), None)
        return None
    raise TypeError(
        "screen takes paths, bytes, (samples, sample_rate) pairs or dicts with "
        f"'array'/'bytes'/'path', got {type(item).__name__}"
    )

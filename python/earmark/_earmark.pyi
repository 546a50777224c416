"""Type stubs of the native module (see earmark/__init__.py for the public API)."""

from os import PathLike
from typing import Optional, Sequence, Tuple, Union

import numpy as np

__version__: str

class EarmarkError(Exception):
    """An input earmark cannot use: ``path`` names the file (None for bytes
    and arrays), ``reason`` says what is wrong."""

    path: Optional[str]
    reason: str

_Source = Union[bytes, bytearray, str, PathLike[str]]
_WmKey = Union[bytes, str, PathLike[str], None]

def verify(
    source: _Source,
    trust: Sequence[str] = ...,
    wm_key: _WmKey = ...,
    c2pa_trust: Optional[str] = ...,
    name: Optional[str] = ...,
    search: bool = ...,
) -> Tuple[str, int]: ...
def detect(
    samples: np.ndarray,
    sample_rate: int,
    trust: Sequence[str] = ...,
    wm_key: _WmKey = ...,
    search: bool = ...,
) -> Tuple[str, int]: ...
def stamp(
    source: _Source,
    key: str,
    out: Optional[str] = ...,
    *,
    format: Optional[str] = ...,
    force: bool = ...,
    title: Optional[str] = ...,
    artist: Optional[str] = ...,
    owner: Optional[str] = ...,
    track_id: Optional[int] = ...,
    strength: Optional[float] = ...,
    seal: bool = ...,
    policy: Optional[str] = ...,
    terms_url: Optional[str] = ...,
    notice: Optional[str] = ...,
    created: Optional[float] = ...,
    c2pa: bool = ...,
    cert: Optional[str] = ...,
    wm_key: _WmKey = ...,
    bitrate: Optional[int] = ...,
) -> Tuple[Optional[bytes], str]: ...
def stamp_array(
    samples: np.ndarray,
    sample_rate: int,
    key: str,
    *,
    title: Optional[str] = ...,
    artist: Optional[str] = ...,
    owner: Optional[str] = ...,
    track_id: Optional[int] = ...,
    strength: Optional[float] = ...,
    seal: bool = ...,
    policy: Optional[str] = ...,
    terms_url: Optional[str] = ...,
    notice: Optional[str] = ...,
    created: Optional[float] = ...,
    wm_key: _WmKey = ...,
) -> Tuple[np.ndarray, str]: ...
def keygen(name: Optional[str] = ...) -> Tuple[str, str, str, str]: ...

class Screener:
    def __init__(
        self,
        workers: int,
        trust: Sequence[str] = ...,
        wm_key: _WmKey = ...,
        c2pa_trust: Optional[str] = ...,
        search: bool = ...,
    ) -> None: ...
    def submit_path(self, index: int, path: Union[str, PathLike[str]], name: Optional[str] = ...) -> None: ...
    def submit_bytes(self, index: int, data: bytes, name: Optional[str] = ...) -> None: ...
    def submit_samples(
        self, index: int, samples: np.ndarray, sample_rate: int, name: Optional[str] = ...
    ) -> None: ...
    def next(
        self, timeout: Optional[float] = ...
    ) -> Optional[Tuple[int, Optional[str], Optional[int], Optional[str], Optional[str]]]: ...
    def close(self) -> None: ...

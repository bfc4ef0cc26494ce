"""The array codec: `.npy` bytes, exact round trip, object arrays (pickle) refused."""

from __future__ import annotations

import numpy as np
import pytest

from stockpredictor.db.codec import array_from_bytes, array_to_bytes


def test_array_codec_refuses_pickle() -> None:
    with pytest.raises(ValueError):
        array_to_bytes(np.array([{"a": 1}], dtype=object))
    payload = array_to_bytes(np.array([1.5, np.nan], dtype=np.float32))
    np.testing.assert_array_equal(array_from_bytes(payload), np.array([1.5, np.nan], dtype=np.float32))

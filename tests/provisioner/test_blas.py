"""OpenBLAS is held to one thread while sampling, and given back afterwards."""

from __future__ import annotations

import threading

import pytest

from provisioner import _blas


def test_single_threaded_blas_sets_and_restores():
    controls = _blas._find_controls()
    if controls is None:
        pytest.skip("numpy here does not use OpenBLAS")
    getter, setter = controls
    setter(2)
    with _blas.single_threaded_blas():
        assert getter() == 1
        with _blas.single_threaded_blas():  # re-entrant
            assert getter() == 1
        assert getter() == 1
    assert getter() == 2


def test_concurrent_users_restore_once():
    controls = _blas._find_controls()
    if controls is None:
        pytest.skip("numpy here does not use OpenBLAS")
    getter, setter = controls
    setter(2)
    inside = threading.Barrier(3)
    done = threading.Barrier(3)

    def user():
        with _blas.single_threaded_blas():
            inside.wait()
            done.wait()

    threads = [threading.Thread(target=user) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    assert getter() == 1
    done.wait()
    for t in threads:
        t.join()
    assert getter() == 2

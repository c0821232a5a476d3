import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
ANET = SHARED / "activitynet-1.3" / "activity_net.v1-3.annotations.json"


@pytest.fixture(scope="session")
def anet_path():
    if not ANET.is_file():
        pytest.skip(f"real ActivityNet annotations absent ({ANET}); real-data tests skipped")
    return ANET


@pytest.fixture(scope="session")
def anet(anet_path):
    from activeloc import read_ground_truth

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_ground_truth(anet_path)


@pytest.fixture(scope="session")
def anet_raw(anet_path):
    from activeloc import read_ground_truth

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_ground_truth(anet_path, repair=False)

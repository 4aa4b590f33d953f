"""The neural models refuse a size the machine cannot hold before torch allocates it, in one
line naming the parameter (``resources.check_model_size``, built on torch's meta device)."""

import numpy as np
import pytest
import scipy.sparse as sp

from dstc_lib.resources import ResourceError


@pytest.mark.parametrize("method", ["dstc", "contrastive"])
def test_a_width_of_two_million_is_refused_in_one_line(method):
    if method == "dstc":
        from dstc_lib.models.dstc import DSTC as Model
    else:
        from dstc_lib.models.contrastive import ContrastiveClustering as Model
    X = np.random.default_rng(0).random((20, 2, 168)).astype(np.float32)
    with pytest.raises(ResourceError) as err:
        Model(n_clusters=3, width=2_000_000).fit(X, graph=sp.eye_array(20, format="csr"))
    message = str(err.value)
    assert "\n" not in message and "width" in message and "TB" in message

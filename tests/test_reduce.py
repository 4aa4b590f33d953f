import os
import warnings
from dataclasses import replace

import numpy as np
import pytest

from dstc_lib import reduce as red
from dstc_lib.cli import main
from dstc_lib.netmob import NetMobFormatError, discover, read_traffic_file, traffic_path
from dstc_lib.study_calendar import hour_of_week_offset


def direct_week(root, city, direction="sum", exclude=()):
    """The typical week computed the obvious way, with the whole cube in memory."""
    inv = discover(root, city)
    dirs = ["DL", "UL"] if direction == "sum" else [direction]
    cube = {}
    for s in inv.services:
        for d in inv.days:
            values = sum(
                read_traffic_file(traffic_path(root, city, s, d, r)).values.astype(np.float64)
                for r in dirs
            )
            cube[s, d] = values.reshape(-1, 24, 4).sum(axis=2)  # NaN if a quarter is NaN
    n = next(iter(cube.values())).shape[0]
    week = np.full((n, len(inv.services), 168), np.nan)
    for si, s in enumerate(inv.services):
        for how in range(168):
            days = [
                d for d in inv.days if hour_of_week_offset(d) == how // 24 * 24 and d not in exclude
            ]
            stack = (
                np.stack([cube[s, d][:, how % 24] for d in days])
                if days
                else np.full((1, n), np.nan)
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                week[:, si, how] = np.nanmean(stack, axis=0)
    daily = np.stack(
        [
            sum(
                np.nansum(
                    read_traffic_file(traffic_path(root, city, s, d, r)).values,
                    axis=1,
                    dtype=np.float64,
                )
                for s in inv.services
                for r in dirs
            )
            for d in inv.days
        ],
        axis=1,
    )
    return week, daily


@pytest.mark.parametrize("direction", ["sum", "DL"])
def test_reduction_equals_in_memory_computation(tiny, tmp_path, direction):
    root = tiny / "traffic"
    ct = red.reduce_city(
        root, "Paris", cache_dir=tmp_path / "c", direction=direction, progress=False
    )
    week, daily = direct_week(root, "Paris", direction)
    assert ct.week.shape == (30, 3, 168) and ct.daily.shape == (30, 8)
    np.testing.assert_allclose(ct.week, week, rtol=1e-6)
    np.testing.assert_allclose(ct.daily, daily, rtol=1e-6)
    # the only Sunday is the clock-change night, whose 02:00 hour does not exist
    assert ct.week_coverage() == pytest.approx(167 / 168)
    assert np.isnan(ct.week[:, :, 144 + 2]).all()
    # and on that day the hour is missing city-wide, and only that hour
    dst = ct.days.index(__import__("datetime").date(2019, 3, 31))
    assert (
        np.isnan(ct.city_hourly[dst, 2]) and np.isfinite(np.delete(ct.city_hourly, 2, axis=1)).all()
    )


def test_excluded_days_do_not_count_in_the_typical_week(tiny, tmp_path):
    root = tiny / "traffic"
    monday = __import__("datetime").date(2019, 4, 1)
    ct = red.reduce_city(root, "Paris", cache_dir=tmp_path, exclude_days=[monday], progress=False)
    week, _ = direct_week(root, "Paris", exclude={monday})
    np.testing.assert_allclose(ct.week, week, rtol=1e-6)
    assert np.isnan(ct.week[:, :, :24]).all()  # the only Monday was excluded
    assert ct.week_coverage() == pytest.approx(143 / 168)


def test_second_run_is_a_cache_hit_without_reading(tiny, tmp_path, monkeypatch):
    root = tiny / "traffic"
    first = red.reduce_city(root, "Paris", cache_dir=tmp_path, progress=False)
    assert not first.from_cache

    def no_reading(path, threads=None):
        raise AssertionError("a cache hit must not read traffic files")

    monkeypatch.setattr(red, "read_traffic_file", no_reading)
    again = red.reduce_city(root, "Paris", cache_dir=tmp_path, progress=False)
    assert again.from_cache and again.path == first.path
    np.testing.assert_array_equal(again.week, first.week)


def test_changed_input_or_parameters_miss_the_cache(tiny, tmp_path):
    root = tiny / "traffic"
    first = red.reduce_city(root, "Paris", cache_dir=tmp_path, progress=False)
    assert not red.reduce_city(
        root, "Paris", cache_dir=tmp_path, direction="UL", progress=False
    ).from_cache
    path = traffic_path(root, "Paris", "Netflix", "20190401", "DL")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    changed = red.reduce_city(root, "Paris", cache_dir=tmp_path, progress=False)
    assert not changed.from_cache and changed.path != first.path


def test_interrupted_reduction_leaves_no_entry(tiny, tmp_path, monkeypatch):
    root = tiny / "traffic"
    real = red.read_traffic_file
    calls = []

    def dies_midway(path, threads=None):
        calls.append(path)
        if len(calls) == 20:
            raise KeyboardInterrupt
        return real(path, threads=threads)

    monkeypatch.setattr(red, "read_traffic_file", dies_midway)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        red.reduce_city(root, "Paris", cache_dir=cache, progress=False)
    assert list(cache.iterdir()) == []  # neither an entry nor a temporary folder
    monkeypatch.setattr(red, "read_traffic_file", real)
    assert not red.reduce_city(root, "Paris", cache_dir=cache, progress=False).from_cache


def test_processes_executor_is_bit_identical(tiny, tmp_path):
    root = tiny / "traffic"
    serial = red.reduce_city(root, "Paris", cache_dir=tmp_path / "a", progress=False)
    procs = red.reduce_city(
        root, "Paris", cache_dir=tmp_path / "b", executor="processes", workers=2, progress=False
    )
    np.testing.assert_array_equal(serial.week, procs.week)
    np.testing.assert_array_equal(serial.daily, procs.daily)
    with pytest.raises(ValueError, match="unknown executor"):
        red.reduce_city(root, "Paris", cache_dir=tmp_path / "c", executor="gpu", progress=False)


def _same_bits(a, b):
    for name in ("tile_ids", "week", "daily", "city_hourly"):
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), name
    assert a.quality.equals(b.quality)


def test_dask_executor_is_bit_identical_to_serial(tiny, tmp_path, capsys, monkeypatch):
    """Also: given a scheduler's address, every typical week travelled back to the driver, even
    from workers on the driver's own machine; now they write it in place, as local workers do."""
    import threading

    from distributed import LocalCluster

    root = tiny / "traffic"
    serial = red.reduce_city(root, "Paris", cache_dir=tmp_path / "a", progress=False)
    written_by_driver = []
    real = red._write_service

    def spy(week, s_idx, values):
        if threading.current_thread() is threading.main_thread():
            written_by_driver.append(s_idx)
        return real(week, s_idx, values)

    monkeypatch.setattr(red, "_write_service", spy)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        on_dask = red.reduce_city(
            root,
            "Paris",
            cache_dir=tmp_path / "b",
            executor="dask",
            scheduler=cluster.scheduler_address,
            progress=False,
        )
        assert not on_dask.from_cache
        _same_bits(serial, on_dask)
        assert written_by_driver == []
        args = ["data", "reduce", "--traffic-root", str(root), "--city", "Paris", "--quiet"]
        args += ["--cache-dir", str(tmp_path / "c"), "--executor", "dask"]
        assert main(args + ["--scheduler", cluster.scheduler_address]) == 0
    assert "Paris: reduced to" in capsys.readouterr().out
    _same_bits(serial, red.load_reduced(next((tmp_path / "c").iterdir())))
    with pytest.raises(ValueError, match="goes with executor='dask'"):
        red.reduce_city(root, "Paris", cache_dir=tmp_path / "d", scheduler="tcp://x:1")


def test_a_worker_writes_in_place_only_where_it_sees_the_drivers_file(tmp_path):
    week = tmp_path / "week.npy"
    week.write_bytes(b"")
    task = red._BlockTask(0, 0, [], [], None, np.arange(3), str(week))
    assert red._writes_in_place(task)  # a local executor: always
    mine = red.file_identity(week)
    assert red._writes_in_place(replace(task, week_file=mine))
    assert not red._writes_in_place(replace(task, week_file=("elsewhere", *mine[1:])))
    assert not red._writes_in_place(replace(task, week_file=mine, week_path=str(tmp_path / "x")))
    assert not red._writes_in_place(replace(task, week_path=None))


def test_parallel_executors_keep_a_bounded_window_in_input_order(monkeypatch):
    monkeypatch.setattr(red, "_batches", lambda items, max_bytes: ([i] for i in items))
    in_flight, most = [], [0]

    class Done:
        def __init__(self, value):
            self.value = value

        def result(self):
            in_flight.remove(self)
            return self.value

    def submit(fn, item):
        in_flight.append(Done(fn(item)))
        most[0] = max(most[0], len(in_flight))
        return in_flight[-1]

    out = list(red._windowed(submit, lambda x: x * x, range(10_000), slots=3))
    assert out == [x * x for x in range(10_000)]
    assert most[0] == red._WINDOW_PER_WORKER * 3 and not in_flight


def test_small_files_travel_in_batches(tmp_path):
    paths = []
    for i, size in enumerate([5, 5, 5, 20, 1, 1]):
        paths.append(tmp_path / f"{i}.txt")
        paths[-1].write_bytes(b"x" * size)
    batches = [[p.name for p in b] for b in red._batches(paths, max_bytes=12)]
    assert batches == [["0.txt", "1.txt"], ["2.txt"], ["3.txt"], ["4.txt", "5.txt"]]


def test_bad_file_raises_or_is_recorded(tiny, tmp_path):
    root = tiny / "traffic"
    bad = traffic_path(root, "Paris", "Spotify", "20190402", "UL")
    lines = bad.read_text().splitlines()
    lines[6] = lines[6].replace(" ", " -", 1)  # a negative value on line 7
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(NetMobFormatError, match=r"line 7: slot 0 \(00:00\): negative value"):
        red.reduce_city(root, "Paris", cache_dir=tmp_path, progress=False)
    with pytest.warns(UserWarning, match="negative value"):
        ct = red.reduce_city(root, "Paris", cache_dir=tmp_path, on_error="skip", progress=False)
    row = ct.quality.query("service == 'Spotify' and direction == 'UL' and error != ''")
    assert len(row) == 1 and str(bad) in row["error"].item()
    day = ct.day_quality().set_index("day").loc[__import__("datetime").date(2019, 4, 2)]
    assert day["flagged"] and "1 files unreadable" in day["reason"]
    # the unreadable (service, day) is left out of the typical week, not counted as zero:
    # 2019-04-02 is the only Tuesday, so Spotify's Tuesday is unknown, not small
    tuesday = slice(24, 48)
    assert np.isnan(ct.week[:, ct.services.index("Spotify"), tuesday]).all()
    assert np.isfinite(ct.week[:, ct.services.index("Netflix"), tuesday]).all()


def test_missing_file_is_recorded_and_not_counted(tiny, tmp_path):
    root = tiny / "traffic"
    traffic_path(root, "Paris", "Facebook", "20190330", "DL").unlink()  # the only Saturday
    ct = red.reduce_city(root, "Paris", cache_dir=tmp_path, progress=False)
    q = ct.quality.query("service == 'Facebook' and direction == 'DL'")
    assert (~q["present"]).sum() == 1
    saturday = slice(120, 144)
    assert np.isnan(ct.week[:, ct.services.index("Facebook"), saturday]).all()
    assert np.isfinite(ct.week[:, ct.services.index("Netflix"), saturday]).all()
    flagged = ct.day_quality().set_index("day")["reason"]
    assert "1 files missing" in flagged[__import__("datetime").date(2019, 3, 30)]


def test_day_quality_flags_the_dst_night_and_a_planted_match(tiny, tmp_path):
    ct = red.reduce_city(tiny / "traffic", "Paris", cache_dir=tmp_path, progress=False)
    q = ct.day_quality().set_index("day")
    assert q.loc[__import__("datetime").date(2019, 3, 31), "reason"].startswith("NaN 4.17%")
    assert q["files_present"].eq(6).all() and q["files_expected"].eq(6).all()


def test_bad_parameters_are_refused(tiny, tmp_path):
    with pytest.raises(ValueError, match="direction must be one of"):
        red.reduce_city(tiny / "traffic", "Paris", cache_dir=tmp_path, direction="both")
    with pytest.raises(ValueError, match=r"services not found for Paris: \['Tor'\]"):
        red.reduce_city(tiny / "traffic", "Paris", cache_dir=tmp_path, services=["Tor"])


def test_typical_week_written_in_blocks_of_tiles_keeps_every_value(tiny, tmp_path, monkeypatch):
    root = tiny / "traffic"
    whole = red.reduce_city(root, "Paris", cache_dir=tmp_path / "a", progress=False)
    monkeypatch.setattr(red, "_BLOCK_BYTES", 1)  # one tile per block, its pages released
    blocks = red.reduce_city(root, "Paris", cache_dir=tmp_path / "b", progress=False)
    assert np.isfinite(blocks.week).mean() > 0.9
    _same_bits(whole, blocks)


def _leaf(i, rng, n=50):
    return red._Partial(
        lo=i,
        level=0,
        daily=rng.lognormal(0, 6, (n, 3)),
        city_hours=rng.lognormal(0, 6, (3, 24)),
        hour_missing=rng.random((3, 24)) < 0.1,
        quality=[{"i": i}],
        week={},
        messages=[],
    )


@pytest.mark.parametrize("n_services", [1, 5, 7, 8, 13])
def test_the_tree_gives_the_same_bits_however_the_services_are_cut(n_services):
    rng = np.random.default_rng(n_services)
    leaves = [_leaf(i, rng) for i in range(n_services)]

    def cut(level):  # workers fold aligned blocks of 2**level services, the driver the rest
        fold = red._TreeFold()
        for lo in range(0, n_services, 1 << level):
            block = red._TreeFold()
            for leaf in leaves[lo : lo + (1 << level)]:
                block.push(red._Partial(**{**leaf.__dict__, "daily": leaf.daily.copy()}))
            fold.push(block.result())
        return fold.result()

    results = [cut(level) for level in range(4)]
    for r in results:
        assert r.daily.tobytes() == results[0].daily.tobytes()
        assert r.city_hours.tobytes() == results[0].city_hours.tobytes()
        assert (r.hour_missing == np.logical_or.reduce([x.hour_missing for x in leaves])).all()
        assert [q["i"] for q in r.quality] == list(range(n_services))
    np.testing.assert_allclose(results[0].daily, sum(x.daily for x in leaves), rtol=1e-12)
    if n_services >= 5:  # a plain left-to-right sum adds in another order: not always the same
        plain = leaves[0].daily.copy()
        for x in leaves[1:]:
            plain = plain + x.daily
        assert plain.tobytes() != results[0].daily.tobytes()


def test_block_size_and_executor_do_not_change_a_bit(tiny, tmp_path, monkeypatch):
    root = tiny / "traffic"
    serial = red.reduce_city(root, "Paris", cache_dir=tmp_path / "a", progress=False)
    for level in (1, 2):
        monkeypatch.setattr(red, "_block_level", lambda n, slots, level=level: level)
        again = red.reduce_city(root, "Paris", cache_dir=tmp_path / f"l{level}", progress=False)
        _same_bits(serial, again)
    monkeypatch.undo()
    on_dask = red.reduce_city(
        root, "Paris", cache_dir=tmp_path / "d", executor="dask", workers=2, progress=False
    )
    _same_bits(serial, on_dask)  # a local cluster: its workers write the week in place


def test_block_level_gives_each_worker_at_least_two_tasks():
    assert red._block_level(68, 1) == 0
    assert red._block_level(68, 2) == 4  # 5 tasks of 16 services (the last of 4)
    assert red._block_level(3, 2) == 0
    for n, slots in [(12, 2), (68, 8), (200, 3)]:
        level = red._block_level(n, slots)
        assert -(-n // (1 << level)) >= 2 * slots > -(-n // (2 << level))


def test_week_sums_read_in_blocks_equal_the_whole_array_sums(tiny, tmp_path):
    ct = red.reduce_city(tiny / "traffic", "Paris", cache_dir=tmp_path, progress=False)
    whole = np.asarray(ct.week, dtype=np.float64)
    for axis in (1, 2, (1, 2)):
        expected = np.nansum(whole, axis=axis)
        for block in (1, 5000, 1 << 30):  # one tile per block, a few tiles, everything at once
            np.testing.assert_array_equal(ct.week_sum(axis, block_bytes=block), expected)
    with pytest.raises(ValueError, match="keeps the tiles"):
        ct.week_sum(axis=0)


@pytest.mark.parametrize("lacking", ["first", "last", "none"])
def test_a_days_last_file_folded_into_the_week_gives_the_bits_of_two_passes(lacking):
    """The day's last file goes straight into the typical week's sums and counts: the same
    numbers in the same order as folding it into the day's hours and then the day into the week
    (_fold_day), with NaN quarters, rows outside the tiles and tiles without a row."""
    rng = np.random.default_rng(3)
    n, dow = 40, 2
    files = []
    for which in ("first", "last"):
        values = rng.gamma(1.0, 3.0, size=(n, 96)).astype(np.float32)
        values[rng.random(values.shape) < 0.02] = np.nan
        pos = rng.permutation(n)
        if which == lacking:  # three tiles without a row, one row of a tile not in the set
            pos = np.concatenate([pos[3:], [-1]])
            values = values[: len(pos)]
        files.append((values, pos))
    before = rng.gamma(1.0, 3.0, size=(7, n, 24))  # the week's sums from earlier days
    before_counts = rng.integers(0, 4, size=(7, n, 24)).astype(np.int32)

    def fold(fused):
        day_hourly, daily = np.zeros((n, 24)), np.zeros((n, 2))
        city_hours, finite = np.zeros(24), np.zeros(24, dtype=bool)
        sums, counts = before.copy(), before_counts.copy()
        nans = []
        for k, (values, pos) in enumerate(files):
            week = (sums, counts, dow) if fused and k == 1 else red._NO_WEEK
            args = (values, pos, day_hourly, daily, 1, city_hours, finite)
            nans.append(red._fold_file(*args, *week))
            if (pos >= 0).sum() < n and not (fused and k == 1):
                absent = np.ones(n, dtype=bool)
                absent[pos[pos >= 0]] = False
                day_hourly[absent] = np.nan
        if not fused:
            red._fold_day(day_hourly, sums, counts, dow)
        return sums, counts, daily, city_hours, finite, nans

    for a, b in zip(fold(True), fold(False), strict=True):
        assert np.array_equal(a, b, equal_nan=True)
    sums, counts = fold(True)[:2]
    assert (counts[dow] > before_counts[dow]).any()
    assert np.array_equal(np.delete(counts, dow, 0), np.delete(before_counts, dow, 0))


def test_the_fold_refuses_arrays_it_would_write_outside():
    values, pos = np.zeros((2, 96), np.float32), np.array([0, 1])
    day_hourly, daily, city_hours = np.zeros((2, 24)), np.zeros((2, 1)), np.zeros(24)
    finite = np.zeros(24, dtype=bool)
    sums, counts = np.zeros((7, 2, 24)), np.zeros((7, 2, 24), np.int32)
    with pytest.raises(ValueError, match="wrong shape"):  # a week has 7 days
        red._fold_file(values, pos, day_hourly, daily, 0, city_hours, finite, sums, counts, 7)
    with pytest.raises(ValueError, match="wrong shape"):  # the tiles of another city
        red._fold_file(
            values, pos, day_hourly, daily, 0, city_hours, finite, sums[:, :1], counts[:, :1], 0
        )
    with pytest.raises(ValueError, match="wrong shape"):  # day 1 of a one-day array
        red._fold_file(values, pos, day_hourly, daily, 1, city_hours, finite, *red._NO_WEEK)
    with pytest.raises(ValueError, match="outside"):
        red._fold_file(
            values, np.array([0, 2]), day_hourly, daily, 0, city_hours, finite, *red._NO_WEEK
        )


def test_the_week_mean_lays_the_weekdays_out_monday_first():
    sums, counts = np.zeros((7, 2, 24)), np.zeros((7, 2, 24), np.int32)
    sums[2, 1, 5], counts[2, 1, 5] = 9.0, 3  # Wednesday 05:00 of tile 1
    week = red._mean32(sums, counts)
    assert week.shape == (2, 168) and week.dtype == np.float32
    assert week[1, 48 + 5] == 3.0 and np.isnan(week).sum() == 2 * 168 - 1
    assert not sums.any() and not counts.any()  # emptied for the next service


def test_the_mean_written_in_blocks_into_the_file_equals_the_mean_array(tmp_path, monkeypatch):
    monkeypatch.setattr(red, "_BLOCK_BYTES", 3 * 4 * 168 * 3)  # blocks of a few tiles
    rng = np.random.default_rng(5)
    n, services = 50, 3
    sums = rng.gamma(1.0, 3.0, size=(7, n, 24))
    counts = rng.integers(0, 3, size=(7, n, 24)).astype(np.int32)
    expected = red._mean32(sums.copy(), counts.copy())
    week = red.open_week(tmp_path / "week.npy", (n, services, 168))
    red._write_mean(week, 1, sums, counts)
    week.flush()
    written = np.load(tmp_path / "week.npy")
    assert np.array_equal(written[:, 1], expected, equal_nan=True)
    assert np.isnan(expected).any() and not written[:, [0, 2]].any()  # the others untouched
    assert not sums.any() and not counts.any()


def _mapped_kb(path):
    """Resident kB of the mappings of ``path`` in this process (/proc/self/smaps)."""
    total, inside = 0, False
    for line in open("/proc/self/smaps"):
        if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="Linux /proc only")
def test_a_pass_over_a_mapped_week_keeps_one_block_resident(tmp_path):
    path = tmp_path / "week.npy"
    np.save(path, np.ones((4096, 4, 168), np.float32))  # 11 MB
    ct = red.CityTensors(
        "X", tmp_path, np.arange(4096), list("abcd"), [], None, None, None, None, {}, ""
    )
    ct.week = np.load(path, mmap_mode="r")
    block = 1 << 20
    assert ct.week_sum(axis=(1, 2), block_bytes=2 * block).sum() == 4096 * 4 * 168
    assert _mapped_kb(path) <= block // 1024 + 8  # released, up to the last block
    np.asarray(ct.week).sum()  # a plain pass keeps every page it touched
    assert _mapped_kb(path) > 10_000
    from dstc_lib.features import group_services

    grouped, _ = group_services(np.load(path, mmap_mode="r"), ["Netflix", "YouTube", "a", "b"])
    assert grouped.shape == (4096, 3, 168) and _mapped_kb(path) > 10_000  # the earlier map
    assert not red.release_pages(np.ones(10))  # memory that is not a read-only map: untouched
    writable = np.load(path, mmap_mode="r+")
    assert not red.release_pages(writable[:10])


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="Linux /proc only")
def test_service_profiles_leave_no_page_of_the_mapped_week_resident(tmp_path):
    import pandas as pd

    from dstc_lib.explain import service_week_profiles

    path = tmp_path / "week.npy"
    np.save(path, np.ones((4096, 4, 168), np.float32))  # 11 MB, rows of 2,688 bytes
    ct = red.CityTensors(
        "X", tmp_path, np.arange(4096), list("abcd"), [], None, None, None, None, {}, ""
    )
    ct.week = np.load(path, mmap_mode="r")
    groups = pd.Series(np.arange(4096) % 3, index=np.arange(4096))
    profile = service_week_profiles(ct, groups, ["a", "c"])
    assert profile.shape == (168, 6)
    assert _mapped_kb(path) <= 8  # each service's slice touched every page: all released

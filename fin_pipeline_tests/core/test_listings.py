"""Listed ranges: the membership CSV's checks, and the synthetic pool's listing and delisting rates as documented."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from fin_pipeline.core.listings import (
    DELISTING_RATE,
    INITIAL_SHARE,
    LISTING_SPAN_YEARS,
    SEASONING_DAYS,
    Listing,
    pool_names,
    read_membership_csv,
    seasoned,
    synthetic_listings,
)

START = dt.date(2010, 1, 4)


def write(tmp_path, text):
    path = tmp_path / "members.csv"
    path.write_text(text)
    return path


def test_membership_rows_read(tmp_path):
    path = write(tmp_path, "ticker,from,to\naaa,,\nBBB,2015-03-02,2019-06-28\n\nBBB,2019-07-01,\n")
    assert read_membership_csv(path) == [
        Listing("AAA"),
        Listing("BBB", dt.date(2015, 3, 2), dt.date(2019, 6, 28)),
        Listing("BBB", dt.date(2019, 7, 1), None),
    ]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("ticker,from,to\nAAA,,\nBBB,2019-06-28,2015-03-02\n", "line 3: BBB: inverted range: to 2015-03-02"),
        ("ticker,from,to\nBBB,2015-01-02,2019-06-28\nAAA,,\nBBB,2019-06-28,\n", "line 4: BBB: its range 2019-06-28"),
        ("ticker,from,to\nBBB,,2019-06-28\nBBB,,\n", "BBB: its range"),
        ("ticker,from,to\nCCC,,\nCCC,2001-01-02,\n", "line 3: CCC: its range 2001-01-02..(listed) overlaps line 2"),
        ("ticker,from,to\nAAA,2015-13-01,\n", "line 2: AAA: from '2015-13-01' is not a date"),
        ("ticker,start,end\nAAA,,\n", "line 1: the header must be ticker,from,to"),
        ("ticker,from,to\nAAA,,,\n", "line 2: expected 3 fields"),
        ("ticker,from,to\n", "no rows after the header"),
    ],
)
def test_bad_membership_named_by_file_line_and_ticker(tmp_path, text, said):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as err:
        read_membership_csv(path)
    assert str(path) in str(err.value) and said in str(err.value)


def test_pool_names():
    assert pool_names(3) == ["SYN0001", "SYN0002", "SYN0003"]
    assert pool_names(12_000)[-1] == "SYN12000"


def test_synthetic_listing_rates_as_documented():
    """A large pool's draws against the documented rates, each within 4 standard errors."""
    n = 6000
    drawn = synthetic_listings(7, pool_names(n), START)
    late = [x for x in drawn if x.first is not None]
    share = 1 - len(late) / n
    assert abs(share - INITIAL_SHARE) < 4 * math.sqrt(INITIAL_SHARE * (1 - INITIAL_SHARE) / n)
    # the later listings: uniform over LISTING_SPAN_YEARS from the start (mean at half, variance span^2 / 12)
    years = np.array([(x.first - START).days / 365.25 for x in late])
    assert years.min() >= 0 and years.max() < LISTING_SPAN_YEARS
    assert abs(years.mean() - LISTING_SPAN_YEARS / 2) < 4 * LISTING_SPAN_YEARS / math.sqrt(12 * len(late))
    # delisting: exponential life from max(listing, start); the hazard's estimate = 1 / mean life
    life = np.array([((x.last - (x.first or START)).days + 1) / 365.25 for x in drawn])
    assert abs(1 / life.mean() - DELISTING_RATE) < 4 * DELISTING_RATE / math.sqrt(n)
    # memoryless: of those alive after 10 years, a share exp(-rate * 5) lives 5 more
    alive = life[life > 10]
    survive = np.mean(alive > 15)
    expected = math.exp(-DELISTING_RATE * 5)
    assert abs(survive - expected) < 4 * math.sqrt(expected * (1 - expected) / len(alive))


def test_a_tickers_dates_do_not_depend_on_the_pool():
    small, large = synthetic_listings(7, pool_names(30), START), synthetic_listings(7, pool_names(600), START)
    assert large[:30] == small
    assert synthetic_listings(8, pool_names(30), START) != small


def test_seasoned_pool_leaves_out_late_listings():
    end = dt.date(2020, 6, 30)
    listings = [Listing("A"), Listing("B", end - dt.timedelta(days=SEASONING_DAYS)), Listing("C", end)]
    assert [x.ticker for x in seasoned(listings, end)] == ["A", "B"]

"""Build the shipped datasets ``data/china_central_asia/`` and ``data/eurasia/`` from raw extracts.

Run from the repository root (``make data``)::

    python scripts/build_dataset.py [--raw ../shared/data/raw] [--out data/china_central_asia]
        [--eurasia-out data/eurasia]

The raw extracts and their provenance live outside the repository (``../shared/data/raw`` with
``PROVENANCE.md``); the built files are committed and are what the tool reads at run time.
Every choice made here is documented in ``data/README.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RAW = REPO.parent / "shared" / "data" / "raw"
DEFAULT_OUT = REPO / "data" / "china_central_asia"
DEFAULT_EURASIA_OUT = REPO / "data" / "eurasia"
FIRST_YEAR = 2000

# WDI files are merged as they are; the LPI scores come from the World Bank's LPI workbooks
# (dated by edition year) instead of the WDI mirror, which files the 2023 edition under 2022.
WDI_FILES = [
    "wdi_datahub.csv",
    "wdi_internet_users_figurefriday.csv",
    "wdi_trade_fdi_empiricalproject.csv",
    "wdi_ict_service_exports_greenai.csv",
]
LPI_FILES = ["lpi_2010_components.csv", "lpi_wb_2012_2023.csv"]


def build_indicators(raw: Path) -> pd.DataFrame:
    """Long ``iso3, year, indicator, value`` table of WDI series and LPI scores."""
    wdi = pd.concat([pd.read_csv(raw / f) for f in WDI_FILES], ignore_index=True)
    # LPI from WDI: keep only 2007 (the workbooks used here start in 2010); drop the 2022 row,
    # which is the 2023 edition re-dated by WDI and would otherwise appear twice.
    is_lpi = wdi["indicator"].str.startswith("LP.LPI.")
    wdi = wdi[~is_lpi | (wdi["year"] == 2007)]
    lpi = pd.concat([pd.read_csv(raw / f) for f in LPI_FILES], ignore_index=True)
    # ".RK" columns are ranks among all surveyed countries, made up by the extract (not WDI
    # codes); ranks are not comparable across editions, so only the scores ship.
    lpi = lpi[lpi["indicator"].str.endswith(".XQ")]
    out = pd.concat([wdi, lpi], ignore_index=True)
    out = out[out["year"] >= FIRST_YEAR].dropna(subset=["value"])
    dupes = out.duplicated(["iso3", "year", "indicator"], keep=False)
    if dupes.any():
        raise SystemExit(f"duplicate indicator keys in raw data:\n{out[dupes]}")
    return out.sort_values(["indicator", "iso3", "year"]).reset_index(drop=True)


def build_trade(raw: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """China-reported trade (default) and partner-reported trade seen from China.

    Partner-reported rows are re-expressed from China's side (a KAZ export to CHN becomes a
    CHN import from KAZ, ``reported_by = KAZ``) so either file is a drop-in ``trade.csv``.
    """
    dots = pd.read_csv(raw / "trade_imf_dots.csv")
    dots = dots[dots["year"] >= FIRST_YEAR]
    china = dots[dots["reporter_side"] == "china_reported"].copy()
    china["reported_by"] = china["reporter"]
    partner = dots[dots["reporter_side"] == "partner_reported"].copy()
    partner = partner.rename(columns={"reporter": "partner", "partner": "reporter"})
    partner["reported_by"] = partner["partner"]
    partner["flow"] = partner["flow"].map({"export": "import", "import": "export"})
    cols = [
        "reporter",
        "partner",
        "year",
        "flow",
        "value_usd",
        "reported_by",
        "valuation",
        "mirror_of_china_report",
    ]
    order = ["reporter", "partner", "flow", "year"]
    china = china[cols].sort_values(order).reset_index(drop=True)
    partner = partner[cols].sort_values(order).reset_index(drop=True)
    # Partner reports of UZB for 2000-2003 are 4.5-156x China's counterpart values.
    partner["suspicious"] = (partner["reported_by"] == "UZB") & (partner["year"] <= 2003)
    china["suspicious"] = False
    return china, partner


def build_press(raw: Path) -> pd.DataFrame:
    """GACC totals for 2023-2024 as quoted in the press: an out-of-sample check, never fitted."""
    press = pd.read_csv(raw / "trade_gacc_press_2023_2024.csv")
    press = press.drop(columns=["reporter_side"])
    return press.sort_values(["partner", "year", "flow"]).reset_index(drop=True)


def build_pairs(raw: Path) -> pd.DataFrame:
    """Reporter-partner geography from CEPII GeoDist (distances in km)."""
    dist = pd.read_csv(raw / "geo_cepii_dist.csv")
    countries = pd.read_csv(raw / "geo_cepii_countries.csv")
    landlocked = countries.drop_duplicates("iso3").set_index("iso3")["landlocked"]
    pairs = pd.DataFrame(
        {
            "reporter": dist["iso_o"],
            "partner": dist["iso_d"],
            "dist_km": dist["dist"],
            "distcap_km": dist["distcap"],
            "distw_km": dist["distw"],
            "contig": dist["contig"].astype(int),
            "comlang_off": dist["comlang_off"].astype(int),
            "colony": dist["colony"].astype(int),
            "landlocked": dist["iso_d"].map(landlocked).astype(int),
            "landlocked_reporter": dist["iso_o"].map(landlocked).astype(int),
        }
    )
    return pairs.sort_values(["reporter", "partner"]).reset_index(drop=True)


def build_eurasia(raw: Path) -> dict[str, pd.DataFrame]:
    """The Eurasia-33 panel: every country's own DOTS report, CEPII pairs, 14 WDI series.

    ``trade.csv`` holds every reporter's rows with the IMF's estimate and mirror flags;
    ``trade_chn.csv`` is China's own report of its trade with the other 32 (a single-reporter
    panel in the default model's format). ``pairs.csv`` has one row per directed pair.
    """
    folder = raw / "eurasia"
    dots = pd.read_csv(folder / "trade_imf_dots.csv")
    dots = dots[dots["year"] >= FIRST_YEAR]
    order = ["reporter", "partner", "flow", "year"]
    trade = dots.sort_values(order).reset_index(drop=True)
    cepii = pd.read_csv(folder / "pairs_cepii.csv")
    pairs = pd.DataFrame(
        {
            "reporter": cepii["iso_o"],
            "partner": cepii["iso_d"],
            "dist_km": cepii["dist_km"],
            "distcap_km": cepii["distcap_km"],
            "distw_km": cepii["distw_km"],
            "contig": cepii["contig"].astype(int),
            "comlang_off": cepii["comlang_off"].astype(int),
            "comlang_ethno": cepii["comlang_ethno"].astype(int),
            "colony": cepii["colony"].astype(int),
            "landlocked": cepii["landlocked_d"].astype(int),
            "landlocked_reporter": cepii["landlocked_o"].astype(int),
        }
    ).sort_values(["reporter", "partner"])
    indicators = pd.read_csv(folder / "indicators.csv")
    indicators = indicators[indicators["year"] >= FIRST_YEAR].dropna(subset=["value"])
    return {
        "trade.csv": trade,
        "trade_chn.csv": trade[trade["reporter"] == "CHN"].reset_index(drop=True),
        "pairs.csv": pairs.reset_index(drop=True),
        "indicators.csv": indicators.sort_values(["indicator", "iso3", "year"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--eurasia-out", type=Path, default=DEFAULT_EURASIA_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    china, partner = build_trade(args.raw)
    tables = {
        "trade.csv": china,
        "trade_partner_reported.csv": partner,
        "trade_press_2023_2024.csv": build_press(args.raw),
        "indicators.csv": build_indicators(args.raw),
        "pairs.csv": build_pairs(args.raw),
    }
    for name, frame in tables.items():
        frame.to_csv(args.out / name, index=False, float_format="%.10g")
        print(f"wrote {args.out / name} ({len(frame)} rows)")
    args.eurasia_out.mkdir(parents=True, exist_ok=True)
    for name, frame in build_eurasia(args.raw).items():
        frame.to_csv(args.eurasia_out / name, index=False, float_format="%.10g")
        print(f"wrote {args.eurasia_out / name} ({len(frame)} rows)")


if __name__ == "__main__":
    main()

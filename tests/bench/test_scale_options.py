"""The bench's choice of exports: ``BENCH_QUICK=1`` measures a few named sheets, and a sheet
named is that sheet only (``hoja=perfil`` is not ``hoja=perfil-componentes``)."""

from __future__ import annotations

from bench.scale import QUICK_EXPORTS, export_urls, wanted

REPORTES = """
<a href="/reportes/consolidado.xlsx">Excel</a>
<a href="/reportes/consolidado.csv?hoja=estados&amp;separador=coma">estados</a>
<a href="/reportes/consolidado.csv?hoja=estados&amp;separador=punto-y-coma">estados ;</a>
<a href="/reportes/consolidado.csv?hoja=perfil">perfil</a>
<a href="/reportes/consolidado.csv?hoja=perfil-componentes">detalle</a>
<a href="/reportes/consolidado.csv?hoja=instituciones&amp;zona=urbana">instituciones</a>
<a href="/reportes/consolidado.pdf">PDF</a>
"""


def test_quick_mode_measures_the_named_sheets_only() -> None:
    urls = export_urls(REPORTES)
    assert len(urls) == 6  # one per sheet: the second separator of «estados» is left out
    quick = [url for url in urls if wanted(url, QUICK_EXPORTS.split(","))]
    assert quick == ["/reportes/consolidado.csv?hoja=estados&separador=coma",
                     "/reportes/consolidado.csv?hoja=perfil",
                     "/reportes/consolidado.csv?hoja=instituciones&zona=urbana"]
    assert [url for url in urls if wanted(url, [".pdf", ".xlsx"])] == [
        "/reportes/consolidado.xlsx", "/reportes/consolidado.pdf"]
    assert all(wanted(url, None) for url in urls)

"""Rebuild ``workflow/cuentas/data/common-passwords.txt.gz``: the passwords nobody may choose.

One entry a line, normalized as ``accounts.normalized_password`` does (NFC, stripped,
lower-case), sorted, unique, gzip-compressed. Sources (all MIT, BSD or public domain; fetched
with the ordinary package clients, no internet needed beyond the registries):

    cd /tmp && npm pack @zxcvbn-ts/language-common @zxcvbn-ts/language-es-es
    pip download --no-deps -d /tmp django       # contrib/auth/common-passwords.txt.gz
    apt-get download john-data                  # /usr/share/john/password.lst
    python tools/build_common_passwords.py \
        --zxcvbn-common zxcvbn-ts-language-common-*.tgz \
        --zxcvbn-es zxcvbn-ts-language-es-es-*.tgz \
        --django django-*.whl --john john-data_*.deb

What goes in:
- zxcvbn-ts common ``passwords.json`` (breach-ranked, ~49,000), Django's list (~20,000,
  from the same breach corpora), Openwall's John the Ripper ``password.lst`` (~3,500);
- the 15,000 most frequent Spanish words of zxcvbn-ts es-es (a single dictionary word is
  among an attacker's first guesses);
- Spanish and Colombian variants, by one documented rule: every base in ``COLOMBIAN_BASES``
  below and every Spanish first name of zxcvbn-ts es-es, bare and followed by each suffix
  of ``SUFFIXES`` (years 1950-2030, "1", "12", "123", ... "!", "*", "."), as people write
  "colombia2024", "maria1985", "millonarios123".
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import tarfile
import unicodedata
import zipfile
from pathlib import Path

OUTPUT = (Path(__file__).resolve().parent.parent / "workflow" / "cuentas" / "data"
          / "common-passwords.txt.gz")

COLOMBIAN_BASES = """
colombia colombiano colombiana micolombia viva colombia vivacolombia contraseña contrasena
micontraseña micontrasena clave miclave password contraseña clave secreta
bogota bogotá medellin medellín cali barranquilla cartagena ibague ibagué tolima
bucaramanga pereira manizales cucuta cúcuta pasto neiva villavicencio armenia popayan
santamarta monteria sincelejo valledupar tunja quibdo riohacha florencia yopal leticia
antioquia cundinamarca santander boyaca caldas risaralda quindio huila nariño narino cauca
valle atlantico bolivar cordoba sucre cesar magdalena guajira choco meta casanare
millonarios nacional atleticonacional atlnacional americadecali america deportivocali
junior juniorfc santafe independientesantafe oncecaldas deportestolima tolima
deportivopereira bucaramanga envigado medellin dim independientemedellin
pibe valderrama falcao james jamesrodriguez shakira juanes maluma karolg
teamo tequiero teamomucho amor miamor amorcito corazon micorazon dios diosesamor
diosteama jesus jesucristo virgen maria familia mifamilia mama papa hijo hija
colegio escuela institucion educacion secretaria secretariadeeducacion rector rectoria
profesor profesora docente docentes maestro maestra estudiante alumno calidad
mejoramiento planmejoramiento ruta rutademejoramiento pmi autoevaluacion evaluacion
bienvenido bienvenida hola holamundo administrador admin usuario qwerty asdfgh
""".split()  # noqa: SIM905 (a word list reads better as text)

SUFFIXES = ["", *(str(year) for year in range(1950, 2031)),
            *(str(year)[2:] for year in range(1950, 2000)),
            "1", "12", "123", "1234", "12345", "123456", "1234567", "12345678", "0", "00",
            "01", "11", "22", "69", "77", "99", "!", "*", ".", "#", "123*", "123.", "2024*"]


def normalized(password: str) -> str:
    return unicodedata.normalize("NFC", password).strip().lower()


def _tgz_json(path: Path, member: str) -> list[str]:
    with tarfile.open(path) as archive:
        handle = archive.extractfile(member)
        assert handle is not None
        return json.load(handle)


def _django(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as wheel:
        data = wheel.read("django/contrib/auth/common-passwords.txt.gz")
    return gzip.decompress(data).decode().splitlines()


def _john(path: Path) -> list[str]:
    # A .deb is an ar archive holding data.tar.*; the list is inside it.
    content = path.read_bytes()
    position = 8
    while position < len(content):
        name = content[position:position + 16].decode().strip()
        size = int(content[position + 48:position + 58].decode().strip())
        body = content[position + 60:position + 60 + size]
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as archive:
                for member in archive.getmembers():
                    if member.name.endswith("john/password.lst"):
                        handle = archive.extractfile(member)
                        assert handle is not None
                        lines = handle.read().decode("latin-1").splitlines()
                        return [line for line in lines if not line.startswith("#!comment")]
        position += 60 + size + (size % 2)
    raise SystemExit(f"no password.lst in {path}")


def build(zxcvbn_common: Path, zxcvbn_es: Path, django: Path, john: Path) -> set[str]:
    entries: set[str] = set()
    entries.update(_tgz_json(zxcvbn_common, "package/src/passwords.json"))
    entries.update(_django(django))
    entries.update(_john(john))
    entries.update(_tgz_json(zxcvbn_es, "package/src/commonWords.json")[:15000])
    first_names = _tgz_json(zxcvbn_es, "package/src/firstnames.json")
    for base in [*COLOMBIAN_BASES, *first_names]:
        entries.update(base + suffix for suffix in SUFFIXES)
    return {entry for entry in map(normalized, entries) if entry}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zxcvbn-common", type=Path, required=True)
    parser.add_argument("--zxcvbn-es", type=Path, required=True)
    parser.add_argument("--django", type=Path, required=True)
    parser.add_argument("--john", type=Path, required=True)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    arguments = parser.parse_args()
    entries = build(arguments.zxcvbn_common, arguments.zxcvbn_es, arguments.django,
                    arguments.john)
    # mtime=0: the same sources give the same bytes.
    with gzip.GzipFile(arguments.output, "wb", compresslevel=9, mtime=0) as output:
        output.write(("\n".join(sorted(entries)) + "\n").encode())
    print(f"{len(entries)} entries → {arguments.output}")


if __name__ == "__main__":
    main()

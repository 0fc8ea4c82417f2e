"""Legacy Word (.doc) and WPS (.wps) files: converted to .docx by LibreOffice running headless, then read by the
.docx loader. LibreOffice is optional at run time (`make dev-install` installs Debian's libreoffice-writer-nogui);
without it these files fail with a message saying what to install.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

from assistant.documents.loaders.base import LoadedDocument, LoadError, LoadOptions
from assistant.documents.loaders.docx import load_docx


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if not found:
        raise LoadError(
            "LibreOffice is not installed, so .doc and .wps files cannot be read; install it "
            "(`apt-get install libreoffice-writer-nogui`) or save the file as .docx"
        )
    return found


# What a file LibreOffice can convert starts with: the OLE2 compound file of Word 97–2003 and WPS, RTF, or the zip
# of a .docx saved under the old name. LibreOffice would read anything else as plain text, garbage included.
SIGNATURES = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"{\\rtf", b"PK\x03\x04")


def check_signature(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head.startswith(SIGNATURES):
        raise LoadError(f"{path.name}: not a Word or WPS document (its content is not a {path.suffix} file); open it and save it as .docx")


def convert_to_docx(path: Path, folder: Path, seconds: float) -> Path:
    """The file converted into `folder`; a profile of its own lets conversions run side by side."""
    source = folder / ("source" + path.suffix.lower())
    shutil.copyfile(path, source)  # a plain ASCII name: LibreOffice's command line mangles some others
    command = [
        soffice(),
        f"-env:UserInstallation=file://{folder}/profile",
        "--headless",
        "--norestore",
        "--convert-to",
        "docx:MS Word 2007 XML",
        "--outdir",
        str(folder),
        str(source),
    ]
    try:
        subprocess.run(command, capture_output=True, timeout=seconds, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LoadError(f"{path.name}: LibreOffice took more than {seconds:g} s to convert it; save it as .docx instead") from None
    converted = folder / "source.docx"
    if not converted.is_file() or converted.stat().st_size == 0:
        raise LoadError(f"{path.name}: LibreOffice could not convert it (damaged, or not a {path.suffix} file); save it as .docx instead")
    return converted


def load_legacy_word(path: Path, options: LoadOptions | None = None) -> LoadedDocument:
    options = options or LoadOptions()
    check_signature(path)
    with tempfile.TemporaryDirectory(prefix="policy-qa-doc-") as work:
        converted = convert_to_docx(path, Path(work), options.convert_seconds)
        try:
            document = load_docx(converted)
        except LoadError as error:  # name the user's file, not the converted copy
            raise LoadError(str(error).replace(converted.name, path.name, 1)) from None
    document.path = path
    return document

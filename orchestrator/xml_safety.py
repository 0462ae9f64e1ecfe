"""Parse uploaded BPMN/DMN XML without trusting it: no DTDs, no entities, no network, bounded size."""

from __future__ import annotations

from lxml import etree


class UnsafeXmlError(ValueError):
    """The document is malformed or uses XML features a process model never needs."""


def parse_model_xml(content: bytes | str, name: str, max_bytes: int) -> etree._Element:
    """Return the root element of a model file, or raise UnsafeXmlError saying what is wrong."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    if len(data) > max_bytes:
        raise UnsafeXmlError(f"{name}: file is {len(data)} bytes, the limit is {max_bytes}")
    # A DOCTYPE is the door to external entities and entity-expansion bombs; models never need one.
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise UnsafeXmlError(f"{name}: DOCTYPE and ENTITY declarations are not allowed in process models")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise UnsafeXmlError(f"{name}: malformed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise UnsafeXmlError(f"{name}: DOCTYPE declarations are not allowed in process models")
    return root

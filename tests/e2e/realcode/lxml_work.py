"""Debian's python3-lxml under lifeline: parse, XPath, serialize, iterparse on a generated
document, plus errors raised and caught. Must give no finding."""
import io

from lxml import etree


def generate(n):
    root = etree.Element("catalog", version="2")
    for i in range(n):
        book = etree.SubElement(root, "book", id=f"b{i}", lang=("en" if i % 3 else "fr"))
        etree.SubElement(book, "title").text = f"Title {i} — ünïcödé ✓"
        etree.SubElement(book, "price").text = f"{i * 1.25:.2f}"
        tags = etree.SubElement(book, "tags")
        for t in range(i % 4):
            etree.SubElement(tags, "tag").text = f"t{t}"
        if i % 10 == 0:
            book.append(etree.Comment(f"comment {i}"))
    return root


def xpath_and_modify(root):
    assert len(root.xpath("//book")) == 2000
    fr = root.xpath("//book[@lang='fr']/title/text()")
    assert len(fr) == 667 and fr[0].startswith("Title 0")
    total = root.xpath("sum(//price)")
    assert abs(total - sum(i * 1.25 for i in range(2000))) < 1e-6
    find = etree.XPath("//book[count(tags/tag) = $n]/@id")
    assert len(find(root, n=3)) == 500
    for book in root.iterfind("book[@lang='en']"):
        book.set("seen", "1")
    for tag in list(root.iter("tag")):
        if tag.text == "t2":
            tag.getparent().remove(tag)
    assert not root.xpath("//tag[text()='t2']")
    ns = etree.fromstring(b'<a xmlns="urn:x" xmlns:y="urn:y"><b y:c="1">t</b></a>')
    assert ns.xpath("//x:b/@y:c", namespaces={"x": "urn:x", "y": "urn:y"}) == ["1"]


def serialize(root):
    data = etree.tostring(root, encoding="utf-8", xml_declaration=True, pretty_print=True)
    text = etree.tostring(root, encoding="unicode")
    c14n = etree.tostring(root, method="c14n")
    again = etree.fromstring(data)
    assert len(again) == 2000 and again[5].findtext("title") == root[5].findtext("title")
    assert again[7].get("seen") == "1" and text.count("<book ") == 2000
    assert len(c14n) > 100000
    return data


def iterparse(data):
    count = 0
    prices = 0.0
    for event, elem in etree.iterparse(io.BytesIO(data), events=("start", "end"), tag="book"):
        if event == "end":
            count += 1
            prices += float(elem.findtext("price"))
            elem.clear()
            while elem.getprevious() is not None:
                del elem.getparent()[0]
    assert count == 2000 and prices > 0


def errors():
    for bad in (b"<a><b></a>", b"", b"<?xml version='1.0'?><a>&undefined;</a>", b"<a x='1' x='2'/>"):
        try:
            etree.fromstring(bad)
        except etree.XMLSyntaxError:
            pass
        else:
            raise AssertionError(f"{bad!r} must not parse")
    try:
        etree.XPath("//*[")
    except etree.XPathSyntaxError:
        pass
    parser = etree.XMLParser(recover=True)
    rec = etree.fromstring(b"<a><b>text</a>", parser)
    assert rec.tag == "a"
    html = etree.HTML("<html><body><p>one<p>two<br></body>")
    assert len(html.xpath("//p")) == 2
    xslt = etree.XSLT(etree.XML(
        b'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        b'<xsl:template match="/"><out><xsl:value-of select="count(//b)"/></out></xsl:template>'
        b'</xsl:stylesheet>'))
    assert str(xslt(etree.XML(b"<a><b/><b/></a>"))).strip().endswith("<out>2</out>")


def main():
    root = generate(2000)
    xpath_and_modify(root)
    data = serialize(root)
    iterparse(data)
    errors()
    print("lxml-ok", etree.LXML_VERSION)


main()

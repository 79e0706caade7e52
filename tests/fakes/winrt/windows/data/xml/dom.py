"""`winrt.windows.data.xml.dom` over xml.dom.minidom, with the snake_case names PyWinRT uses."""

from __future__ import annotations

from collections.abc import Iterator
from xml.dom import minidom


class IXmlNode:
    def __init__(self, node: minidom.Node) -> None:
        self._node = node

    def append_child(self, child: IXmlNode) -> IXmlNode:
        self._node.appendChild(child._node)
        return child

    def clone_node(self, deep: bool) -> IXmlNode:
        return _wrap(self._node.cloneNode(deep))

    @property
    def attributes(self) -> XmlNamedNodeMap:
        return XmlNamedNodeMap(self._node)

    @property
    def inner_text(self) -> str:
        if isinstance(self._node, minidom.Attr):
            return str(self._node.value)
        return "".join(t.data for t in _texts(self._node))

    @inner_text.setter
    def inner_text(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"inner_text must be a str, not {type(value).__name__}")  # hstring
        if isinstance(self._node, minidom.Attr):
            self._node.value = value
            return
        for child in list(self._node.childNodes):
            self._node.removeChild(child)
        self._node.appendChild(self._node.ownerDocument.createTextNode(value))

    def get_xml(self) -> str:
        return str(self._node.toxml())


class XmlElement(IXmlNode):
    @property
    def tag_name(self) -> str:
        return str(self._node.tagName)

    def get_attribute(self, name: str) -> str:
        return str(self._node.getAttribute(name))

    def set_attribute(self, name: str, value: str) -> None:
        self._node.setAttribute(name, value)


class XmlAttribute(IXmlNode):
    pass


class XmlText(IXmlNode):
    pass


class XmlNamedNodeMap:
    def __init__(self, element: minidom.Node) -> None:
        self._element = element

    def set_named_item(self, node: IXmlNode) -> IXmlNode | None:
        """Replacing an attribute keeps its place in the element (minidom alone would move it last)."""
        old = self._element.getAttributeNode(node._node.name)
        if old is not None:
            old.value = node._node.value
            return XmlAttribute(old)
        self._element.setAttributeNode(node._node)
        return None

    def get_named_item(self, name: str) -> IXmlNode | None:
        attr = self._element.getAttributeNode(name)
        return None if attr is None else XmlAttribute(attr)

    @property
    def length(self) -> int:
        return int(self._element.attributes.length)


class XmlNodeList:
    def __init__(self, nodes: list[minidom.Node]) -> None:
        self._nodes = nodes

    def item(self, index: int) -> IXmlNode | None:
        return _wrap(self._nodes[index]) if 0 <= index < len(self._nodes) else None

    @property
    def length(self) -> int:
        return len(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[IXmlNode]:
        return (_wrap(n) for n in self._nodes)


class XmlDocument(IXmlNode):
    def __init__(self) -> None:
        self._doc = minidom.Document()
        super().__init__(self._doc)

    def load_xml(self, xml: str) -> None:
        self._doc = minidom.parseString(xml)
        self._node = self._doc

    @property
    def document_element(self) -> XmlElement:
        return XmlElement(self._doc.documentElement)

    def create_element(self, tag_name: str) -> XmlElement:
        return XmlElement(self._doc.createElement(tag_name))

    def create_attribute(self, name: str) -> XmlAttribute:
        return XmlAttribute(self._doc.createAttribute(name))

    def create_text_node(self, data: str) -> XmlText:
        if not isinstance(data, str):
            raise TypeError(f"text must be a str, not {type(data).__name__}")
        return XmlText(self._doc.createTextNode(data))

    def get_elements_by_tag_name(self, tag_name: str) -> XmlNodeList:
        return XmlNodeList(list(self._doc.getElementsByTagName(tag_name)))

    def get_xml(self) -> str:
        """Like Windows: the document element's markup, without an XML declaration."""
        return str(self._doc.documentElement.toxml())


def _wrap(node: minidom.Node) -> IXmlNode:
    if isinstance(node, minidom.Element):
        return XmlElement(node)
    if isinstance(node, minidom.Attr):
        return XmlAttribute(node)
    if isinstance(node, minidom.Text):
        return XmlText(node)
    return IXmlNode(node)


def _texts(node: minidom.Node) -> Iterator[minidom.Text]:
    for child in node.childNodes:
        if isinstance(child, minidom.Text):
            yield child
        else:
            yield from _texts(child)

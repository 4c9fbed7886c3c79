"""Reading an HTML response as its user sees it: visible text, tables, links, form values."""

from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
_INVISIBLE = {"head", "script", "style", "template"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list = field(default_factory=list)

    def has_class(self, name: str) -> bool:
        return name in self.attrs.get("class", "").split()

    def find_all(self, tag: str | None = None, *, class_: str | None = None, **attrs) -> list["Element"]:
        """Every element below this one with `tag`, the CSS class `class_` and these attributes."""
        found = []
        for child in self.children:
            if not isinstance(child, Element):
                continue
            if (
                (tag is None or child.tag == tag)
                and (class_ is None or child.has_class(class_))
                and all(child.attrs.get(name) == value for name, value in attrs.items())
            ):
                found.append(child)
            found.extend(child.find_all(tag, class_=class_, **attrs))
        return found

    def find(self, tag: str | None = None, *, class_: str | None = None, **attrs) -> "Element":
        """The first such element; fails the test, naming what was looked for, if there is none."""
        found = self.find_all(tag, class_=class_, **attrs)
        assert found, f"no <{tag or '*'}> with class={class_!r} {attrs} on the page"
        return found[0]

    @property
    def text(self) -> str:
        """The visible text, whitespace collapsed as a browser shows it."""
        return " ".join(" ".join(self._pieces()).split())

    def _pieces(self):
        if self.tag in _INVISIBLE:
            return
        for child in self.children:
            if isinstance(child, Element):
                yield from child._pieces()
            else:
                yield child


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID_ELEMENTS:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def page(response) -> Element:
    """The response's HTML, parsed."""
    return parse(response.get_data(as_text=True))


def visible_text(response) -> str:
    """All the text a user can read on the page."""
    return page(response).text


def table_rows(response, table_class: str) -> list[list[str]]:
    """The body rows of the table with `table_class`, as the text of each cell."""
    table = page(response).find("table", class_=table_class)
    return [
        [cell.text for cell in row.find_all() if cell.tag in ("td", "th")]
        for row in table.find("tbody").find_all("tr")
    ]


def listed_invoice_numbers(response) -> list[str]:
    """The invoice numbers in the results table, in the order shown; [] when there is no table."""
    tables = page(response).find_all("table", class_="invoices")
    if not tables:
        return []
    return [row.find("td", class_="number").text for row in tables[0].find("tbody").find_all("tr")]


def csrf_token(response) -> str:
    return page(response).find("input", name="csrf_token").attrs["value"]


def ask_for_a_reset(client, email: str):
    """Post the "forgot password" form and close the answer, as a browser's server would: its
    e-mail is sent only then (see `outbox.enqueue(after_response=True)`)."""
    response = client.post("/forgot-password", data={"email": email})
    response.close()
    return response

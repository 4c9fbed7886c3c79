"""Reading the collections team's list pages as a user does: rows, every page of them, the CSV form."""

import csv
import io
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.blueprints.pages import page


def row_keys(response, attribute: str) -> list[str]:
    """The `attribute` (e.g. data-invoice) of each row of the page's table, in order."""
    return [row.attrs[attribute] for row in page(response).find_all("tr") if attribute in row.attrs]


def every_page(client, url: str, attribute: str) -> list[str]:
    """The row keys of `url` and of every page after it, following the "Next" links."""
    keys = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        keys += row_keys(response, attribute)
        following = [link for link in page(response).find_all("a") if link.attrs.get("rel") == "next"]
        url = following[0].attrs["href"] if following else None
    return keys


def filters_on_screen(response) -> list[tuple[str, str]]:
    """What the filters form would send: each input's value and each select's chosen option."""
    form = page(response).find("form", class_="filters")
    values = []
    for element in form.find_all():
        name = element.attrs.get("name")
        if not name:
            continue
        if element.tag == "input":
            values.append((name, element.attrs.get("value", "")))
        elif element.tag == "select":
            chosen = [option for option in element.find_all("option") if "selected" in option.attrs]
            values.append((name, (chosen or element.find_all("option"))[0].attrs["value"]))
    return values


def download_csv(client, response) -> list[dict]:
    """Press the page's "Download as CSV" button, with the filters on screen; the CSV's rows."""
    button = page(response).find("button", class_="csv")
    action = urlsplit(button.attrs["formaction"])
    query = parse_qsl(action.query) + filters_on_screen(response)
    download = client.get(f"{action.path}?{urlencode(query)}")
    assert download.status_code == 200, download.get_data(as_text=True)
    assert download.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))

"""CSV cells that a spreadsheet will not run: a cell starting with = + - @, a tab or a
carriage return is a formula (or becomes one) in Excel and LibreOffice, so a user name such
as `=HYPERLINK(...)` typed into the login form would execute when an admin opens the
export. OWASP's advice: prefix such a cell with a single quote, which the spreadsheet shows
as text and does not evaluate."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def safe_row(values: list) -> list[str]:
    return [spreadsheet_safe(value) for value in values]

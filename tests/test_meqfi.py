import pytest

from evoface.core.errors import InputError
from evoface.meqfi import FEATURES, image_score, score_sheet, write_sheet


def test_worked_example():
    # 7 features; ears and teeth not applicable (I = 2); marks 5, 4, 3, 4, 2 -> P = 1, .8, .6, .8, .4
    marks = {"nose": 5, "eyes": 4, "eyebrows": 3, "mouth": 4, "ears": None, "teeth": None, "skin_tone": 2}
    assert image_score(marks) == pytest.approx((1 + 0.8 + 0.6 + 0.8 + 0.4) / (7 - 2))  # 0.72
    assert image_score(dict.fromkeys(FEATURES, 5)) == 1.0
    assert image_score(dict.fromkeys(FEATURES)) is None


def test_sheet_round_trip_and_method_means(tmp_path):
    sheet = write_sheet([("GA", "a.png"), ("GA", "b.png"), ("GAN", "c.png")], tmp_path / "sheet.csv")
    lines = sheet.read_text().splitlines()
    assert lines[0] == "method,image," + ",".join(FEATURES) and len(lines) == 4
    lines[1] = "GA,a.png,5,5,5,5,,,5"
    lines[2] = "GA,b.png,1,1,1,1,1,1,1"
    lines[3] = "GAN,c.png,,,,,,,"
    sheet.write_text("\n".join(lines) + "\n")
    result = score_sheet(sheet)
    assert result["method_means"] == {"GA": pytest.approx(0.6)}
    assert [img["meqfi"] for img in result["images"]] == [1.0, pytest.approx(0.2), None]


def test_bad_marks_and_files(tmp_path):
    sheet = write_sheet([("GA", "a.png")], tmp_path / "s.csv")
    sheet.write_text(sheet.read_text().splitlines()[0] + "\nGA,a.png,7,,,,,,\n")
    with pytest.raises(InputError, match="1-5 or blank"):
        score_sheet(sheet)
    (tmp_path / "other.csv").write_text("x,y\n1,2\n")
    with pytest.raises(InputError, match="not an MEQFI sheet"):
        score_sheet(tmp_path / "other.csv")

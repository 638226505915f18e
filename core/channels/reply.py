"""Reply stripping: the new content of a plain-text reply, without quotes and signature."""

from __future__ import annotations

import re

from core.channels.text_tidy import tidy

# --------------------------------------------------------------------------- reply stripping

_QUOTED = re.compile(r"^[ \t]*>")
_SIGNATURE_DELIMITER = re.compile(r"^--[ \t]?$")
_DEVICES = (
    r"(?:iphone|ipad|ipod|android|samsung|galaxy|huawei|xiaomi|pixel|oneplus|blackberry"
    r"|windows phone|nokia|sony|motorola|htc|lg|mobile|phone|smartphone|tablet|cell)"
)
_MOBILE_SIGNATURE = re.compile(
    r"^(?:"
    rf"sent from my {_DEVICES}\b[\w ().,-]{{0,40}}"
    r"|sent from (?:outlook|mail|yahoo mail|aol|gmail|proton ?mail|samsung|mobile)\b.{0,60}"
    r"|sent with proton ?mail.{0,40}"
    r"|get outlook for (?:ios|android|mac|windows).{0,60}"
    rf"|envoyé de mon {_DEVICES}.{{0,30}}|envoyé depuis (?:mon |l'application )?\S.{{0,40}}"
    rf"|von meinem {_DEVICES}.{{0,30}}gesendet|gesendet von (?:meinem )?\S.{{0,40}}"
    rf"|enviado desde mi {_DEVICES}.{{0,30}}|enviado d[eo] meu {_DEVICES}.{{0,30}}"
    rf"|inviato da(?:l mio)? {_DEVICES}.{{0,30}}|verzonden (?:vanaf|met) (?:mijn )?\S.{{0,30}}"
    r"|(?:iphone|ipad|android)から送信"
    r")\.?$",
    re.IGNORECASE,
)
_ORIGINAL_MESSAGE = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:original message|ursprüngliche nachricht|originalnachricht"
    r"|message d['’]origine|mensaje original|messaggio originale|oorspronkelijk bericht"
    r"|mensagem original|originalmeddelande|opprinnelig melding|oprindelig meddelelse"
    r"|alkuperäinen viesti|oryginalna wiadomość|původní zpráva|исходное сообщение)"
    r"[ \t]*-{2,}[ \t]*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^[ \t]*_{10,}[ \t]*$")
_FORWARD_MARKER = re.compile(
    r"(?:forwarded message|begin forwarded message|weitergeleitete nachricht"
    r"|message transféré|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht"
    r"|mensagem encaminhada|vidarebefordrat meddelande)",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(
    r"^[ \t]*\*{0,2}(?:From|De|Von|Van|Da|Od|Från|Fra|Lähettäjä|Feladó|От|差出人|发件人|寄件者)"
    r"[ \t]*\*{0,2}[ \t]*[:：]",
    re.IGNORECASE,
)
_HEADER_OTHER = re.compile(
    r"^[ \t]*\*{0,2}(?:Sent|Date|To|Cc|Bcc|Subject|Reply-To|Envoyé|À|A|Objet|Gesendet|Datum|An"
    r"|Betreff|Enviado|Enviada|Fecha|Para|Asunto|Verzonden|Aan|Onderwerp|Inviato|Data|Oggetto"
    r"|Assunto|Skickat|Till|Ämne|Sendt|Til|Emne|Wysłano|Do|Temat|Odesláno|Komu|Předmět"
    r"|Отправлено|Кому|Тема|送信日時|宛先|件名|发送时间|收件人|主题|傳送時間|收件者|主旨)"
    r"[ \t]*\*{0,2}[ \t]*[:：]",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(
    r"^[ \t]*(?:On|Am|Le|El|Op|Il|Em|Den|På|W dniu|Dne|Dana|Il giorno)\s", re.IGNORECASE
)
_WROTE = (
    r"(?:wrote|schrieb|a\s+écrit|escribió|escribio|schreef|ha\s+scritto|scrisse|escreveu"
    r"|napisał(?:\(a\))?|pisze|skrev|kirjoitti|napsal(?:\(a\))?|написал(?:\(а\))?|写道|書きました)"
)
_ATTRIBUTION = re.compile(rf"^.{{0,400}}?\d.{{0,400}}?{_WROTE}.{{0,200}}?[:：]\s*$", re.IGNORECASE)
_MAX_ATTRIBUTION = 400  # longer lines are content, and keep the regexes cheap
_ATTRIBUTION_EVIDENCE = re.compile(r"@|\d{1,2}[:.h]\d{2}\b")
_GENERIC_ATTRIBUTION = re.compile(rf"(?:@|\d{{1,2}}:\d{{2}}|{_WROTE}).*[:：]\s*$", re.IGNORECASE)


def strip_reply(text: str) -> str:
    """Keep only the new content of a plain-text email body.

    Removes `>`-quoted lines with their "On … wrote:" attribution (also wrapped over two
    lines, and the usual localized forms), Outlook "-----Original Message-----" and
    "From:/Sent:/To:/Subject:" header blocks with everything below them, the RFC 3676 "-- "
    signature and "Sent from my iPhone"-style lines. Ordinary sign-offs ("Thanks, Maria")
    are kept. When nothing would be left, the whole tidied text is returned instead.
    """
    return strip_quotes(text) or tidy(text)


def strip_quotes(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _QUOTED.match(line):
            i += 1
            continue
        if _ends_new_content(lines, i):
            break
        end = _attribution_end(lines, i)
        if end is not None:
            if _quote_follows(lines, end):
                i = end
                continue
            if _ATTRIBUTION_EVIDENCE.search(" ".join(lines[i:end])):
                break
        if (
            len(line) <= _MAX_ATTRIBUTION
            and _quote_follows(lines, i + 1)
            and _GENERIC_ATTRIBUTION.search(line.strip())
        ):
            i += 1
            continue
        kept.append(line)
        i += 1
    return tidy("\n".join(kept))


def _ends_new_content(lines: list[str], i: int) -> bool:
    """Whether line i starts a signature or an unquoted (Outlook-style) history block."""
    line = lines[i]
    stripped = line.strip()
    if _SIGNATURE_DELIMITER.match(line) or _SIGNATURE_DELIMITER.match(stripped):
        return True
    if len(stripped) <= 80 and _MOBILE_SIGNATURE.match(stripped):
        return True
    if _ORIGINAL_MESSAGE.match(line):
        return True
    if _UNDERSCORES.match(line):
        following = [candidate for candidate in lines[i + 1 : i + 4] if candidate.strip()]
        return bool(following) and bool(_HEADER_FROM.match(following[0]))
    if _HEADER_FROM.match(line):
        before = " ".join(lines[max(0, i - 3) : i])
        if _FORWARD_MARKER.search(before):
            return False
        others = 0
        for candidate in lines[i + 1 : i + 7]:
            if not candidate.strip():
                break
            if _HEADER_OTHER.match(candidate):
                others += 1
        return others >= 2
    return False


def _attribution_end(lines: list[str], i: int) -> int | None:
    """If an "On <date>, <name> wrote:" header starts at line i, the index after it."""
    if not _ATTRIBUTION_START.match(lines[i]):
        return None
    joined = ""
    for end in range(i, min(i + 3, len(lines))):
        if not lines[end].strip() or (end > i and _QUOTED.match(lines[end])):
            return None
        joined = f"{joined} {lines[end].strip()}".strip()
        if len(joined) > _MAX_ATTRIBUTION:
            return None
        if _ATTRIBUTION.match(joined):
            return end + 1
    return None


def _quote_follows(lines: list[str], start: int) -> bool:
    """Whether the next non-blank line (within two blank lines) is `>`-quoted."""
    for candidate in lines[start : start + 3]:
        if candidate.strip():
            return bool(_QUOTED.match(candidate))
    return False

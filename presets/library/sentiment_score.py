import math
import re

_LEXICON = {
    "good": 2, "great": 3, "excellent": 3, "amazing": 3, "awesome": 3, "fantastic": 3,
    "wonderful": 3, "love": 3, "loved": 3, "loves": 3, "best": 3, "perfect": 3,
    "brilliant": 3, "beautiful": 3, "impressive": 3, "happy": 2, "glad": 2, "nice": 2,
    "better": 2, "enjoy": 2, "enjoyed": 2, "pleasant": 2, "helpful": 2, "recommend": 2,
    "fun": 2, "satisfied": 2, "reliable": 2, "friendly": 2, "positive": 2, "thanks": 2,
    "fast": 1, "easy": 1, "fine": 1, "ok": 1, "okay": 1,
    "bad": -2, "terrible": -3, "awful": -3, "horrible": -3, "worst": -3, "hate": -3,
    "hated": -3, "useless": -3, "disgusting": -3, "worse": -2, "poor": -2, "sad": -2,
    "angry": -2, "disappointed": -2, "disappointing": -2, "boring": -2, "broken": -2,
    "annoying": -2, "ugly": -2, "fail": -2, "failed": -2, "wrong": -2, "rude": -2,
    "buggy": -2, "crash": -2, "waste": -2, "slow": -1, "problem": -1, "difficult": -1,
    "expensive": -1,
}
_INTENSIFIERS = {
    "very": 1.5, "really": 1.4, "extremely": 1.8, "incredibly": 1.8, "super": 1.5,
    "so": 1.3, "totally": 1.4, "absolutely": 1.6, "highly": 1.5, "quite": 1.2,
    "somewhat": 0.7, "slightly": 0.5, "barely": 0.4,
}
_NEGATORS = {"not", "no", "never", "none", "nothing", "neither", "nor", "without", "cannot", "hardly"}
_NEGATION_SCOPE = 3  # a negator affects a sentiment word up to 3 tokens later
_TOKEN = re.compile(r"[a-z]+(?:['’][a-z]+)?|[.!?;,]")


def sentiment_score(text):
    """Score the sentiment of English text with a small built-in lexicon.

    Handles negation ("not good" is mildly negative, "not bad" mildly positive),
    intensifiers ("very good" > "good") and contrast ("ok but slow" leans negative).
    Returns {"label": "positive"|"negative"|"neutral", "confidence": 0..1, "score": -1..1}.
    Balanced mixed texts are neutral with lower confidence than texts without sentiment words.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    raw, evidence, boost, negation, weight = 0.0, 0.0, 1.0, 0, 1.0
    for token in _TOKEN.findall(text.lower().replace("’", "'")):
        if token in ".!?;,":
            boost, negation = 1.0, 0
        elif token == "but":  # "X but Y": the clause after "but" dominates
            raw, weight, boost, negation = raw * 0.5, 1.5, 1.0, 0
        elif token in _NEGATORS or token.endswith("n't"):
            negation = _NEGATION_SCOPE
        elif token in _INTENSIFIERS:
            boost *= _INTENSIFIERS[token]
        elif token in _LEXICON:
            value = _LEXICON[token] * boost * weight
            raw += -0.75 * value if negation else value
            evidence += abs(value)
            boost, negation = 1.0, 0
        else:
            boost, negation = 1.0, max(0, negation - 1)
    score = raw / math.sqrt(raw * raw + 15)  # squash to (-1, 1)
    if abs(score) < 0.05:
        confidence = 0.5 + 0.5 * (1 - abs(score) / 0.05) / (1 + evidence / 4)
        return {"label": "neutral", "confidence": round(confidence, 3), "score": round(score, 4)}
    label = "positive" if score > 0 else "negative"
    return {"label": label, "confidence": round(0.5 + abs(score) / 2, 3), "score": round(score, 4)}

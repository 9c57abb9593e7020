"""Refusal-only model output: every sentence a refusal or refusal filler.

A reply is refusal-only when every sentence is a refusal ("I can't help with that", "As an AI
language model, I cannot ...", and the same in es/fr/de/pt/it/ja/zh) or refusal filler
("Sorry.", "Is there anything else I can help with?"), with at least one real refusal. A
refusal clause followed by "but ..." or a long continuation is an answer. "I can't verify
that" is not a refusal: the prompt asks the model to say so.
"""

from __future__ import annotations

import re

__all__ = ["is_refusal"]


def is_refusal(text: str) -> bool:
    """True if ``text`` is only a refusal (with apologies around it), not an answer."""
    sentences = [s for s in (_clean_sentence(s) for s in _SENTENCE_SPLIT.split(text)) if s]
    if not sentences:
        return False
    refused = False
    for sentence in sentences:
        if _is_refusal_sentence(sentence):
            refused = True
        elif not any(p.match(sentence) for p in _FILLER):
            return False
    return refused


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])\s+|(?<=[。\uff01\uff1f])|\n+")
_APOSTROPHES = re.compile("[\u2019\u02bc\u2018`\u00b4]")

_EN_APOLOGY = (
    r"(?:(?:i'?m|i\s+am)\s+(?:so\s+|very\s+|really\s+|truly\s+|terribly\s+)?sorry"
    r"|sorry|i\s+apologi[sz]e|(?:my\s+)?apologies|unfortunately|regrettably"
    r"|(?:i'?m|i\s+am)\s+afraid)"
)
_EN_AS_AI = (
    r"as\s+an?\s+(?:ai\b|artificial\s+intelligence|(?:ai\s+)?(?:large\s+)?language\s+model"
    r"|llm|(?:ai\s+|virtual\s+|digital\s+)?(?:assistant|chatbot|model|bot))"
)
_EN_NEG = (
    r"(?:(?:i|we)\s+(?:cannot|can\s*not|can'?t|could\s+not|couldn'?t|will\s+not|won'?t"
    r"|must\s+not|am\s+unable|are\s+unable|am\s+not\s+(?:able|going|allowed|permitted)"
    r"|do\s+not\s+feel\s+comfortable|don'?t\s+feel\s+comfortable)"
    r"|(?:i'?m|we'?re)\s+(?:unable|not\s+(?:able|going|allowed|permitted|comfortable)))"
)
_EN_VERB = (
    r"(?:help|assist|comply|fulfil+|provide|do\s+(?:that|this|so)|engage|answer|respond"
    r"|support|create|generate|write|produce|share|discuss|continue|participate|complete"
    r"|process|give|offer|accommodate|grant|reveal|disclose|go\s+along)"
)
_EN_LEAD = rf"^(?:{_EN_APOLOGY}[,.!]?\s*(?:but\s+)?)?(?:{_EN_AS_AI}\s*,?\s*)?"

_ES_AI = (
    r"como\s+(?:un\s+|una\s+)?(?:ia|inteligencia\s+artificial|modelo\s+de\s+lenguaje"
    r"|asistente)"
)
_FR_AI = (
    r"en\s+tant\s+qu(?:e\s+|')\s*(?:une?\s+)?(?:ia|intelligence\s+artificielle|assistant"
    r"|modèle\s+de\s+langage)"
)
_DE_AI = (
    r"als\s+(?:eine?\s+)?(?:ki|künstliche\s+intelligenz|sprachmodell|ki-sprachmodell"
    r"|ki-assistent)"
)
_PT_AI = (
    r"como\s+(?:um\s+|uma\s+)?(?:ia|inteligência\s+artificial|modelo\s+de\s+linguagem"
    r"|assistente)"
)
_IT_AI = (
    r"come\s+(?:un\s+|un'\s*|una\s+)?(?:ia|intelligenza\s+artificiale"
    r"|modello\s+(?:di\s+)?linguaggio|assistente)"
)
_ZH_AI = r"作为(?:一个|一名)?(?:ai|人工智能)(?:语言模型|助手|模型)?[\uff0c,]?"

_REFUSALS = [
    re.compile(p)
    for p in (
        # English
        rf"{_EN_LEAD}{_EN_NEG}\s+(?:to\s+)?(?:\w+\s+)?{_EN_VERB}\b",
        rf"{_EN_LEAD}i\s+(?:must|have\s+to|need\s+to|will\s+have\s+to)\s+"
        r"(?:respectfully\s+|politely\s+)?(?:decline|refuse)\b",
        rf"{_EN_LEAD}(?:that'?s|that\s+is|this\s+is|it'?s)\s+not\s+something\s+i\s+can\s+"
        r"(?:help|assist)",
        rf"^(?:{_EN_APOLOGY}[,.!]?\s*(?:but\s+)?)?{_EN_AS_AI}\s*,?\s*(?:i|we)\s*"
        r"(?:cannot|can\s*not|can'?t|do\s+not|don'?t|am\s+not|'m\s+not|have\s+no|lack"
        r"|am\s+unable|'m\s+unable|could\s+not|couldn'?t|won'?t|will\s+not)\b",
        # Spanish
        r"^(?:(?:lo\s+siento(?:\s+mucho)?|disculpa|disculpe|perdón|lamentablemente"
        rf"|desafortunadamente)[,.!]?\s*(?:pero\s+)?)?(?:{_ES_AI}\s*,?\s*)?(?:yo\s+)?no\s+"
        r"(?:puedo|podemos|me\s+es\s+posible|estoy\s+en\s+condiciones\s+de)\s+(?:\w+\s+)?"
        r"(?:ayudar\w*|asistir\w*|cumplir|responder\w*|proporcionar\w*|hacer\s+eso|realizar"
        r"|generar|crear|participar|complacer\w*)",
        rf"^{_ES_AI}\s*,?\s*no\b",
        # French
        r"^(?:(?:je\s+suis\s+)?(?:désolée?|navrée?)|je\s+m'excuse|malheureusement)?[,.!]?\s*"
        rf"(?:mais\s+)?(?:{_FR_AI}\s*,?\s*)?je\s+ne\s+(?:peux|pourrai|puis|suis)\s+pas\s+"
        r"(?:en\s+mesure\s+d(?:e\s+|')|autorisée?\s+à\s+)?(?:vous\s+|t'|te\s+)?"
        r"(?:aider|assister|répondre|fournir|faire\s+(?:ça|cela)|donner|satisfaire|générer"
        r"|créer|accéder)",
        rf"^{_FR_AI}\s*,?\s*je\s+ne\b",
        # German
        r"^(?:(?:es\s+tut\s+mir\s+(?:sehr\s+)?leid|entschuldigung|sorry|leider)[,.!]?\s*"
        rf"(?:aber\s+)?)?(?:{_DE_AI}\s*,?\s*)?(?:ich\s+kann|kann\s+ich|ich\s+darf|darf\s+ich)"
        r"\s+(?:\w+\s+){0,3}?(?:leider\s+)?(?:nicht|keine)\s+(?:\w+\s+){0,2}?"
        r"(?:helfen|behilflich|unterstützen|antworten|beantworten|erfüllen|nachkommen"
        r"|geben|liefern|erstellen)",
        rf"^{_DE_AI}\s*,?\s*(?:kann|habe|bin|darf)\s+ich\s+(?:\w+\s+){{0,3}}?(?:nicht|keine)",
        # Portuguese
        r"^(?:(?:desculpe|desculpa|sinto\s+muito|lamento|infelizmente)[,.!]?\s*"
        rf"(?:mas\s+)?)?(?:{_PT_AI}\s*,?\s*)?(?:eu\s+)?não\s+(?:posso|consigo|sou\s+capaz\s+de"
        r"|estou\s+autorizad[oa]\s+a)\s+(?:\w+\s+)?(?:ajudar|auxiliar|responder|fornecer"
        r"|atender|cumprir|fazer\s+isso|gerar|criar)",
        # Italian
        r"^(?:(?:mi\s+dispiace|scusa(?:mi)?|spiacente|purtroppo)[,.!]?\s*(?:ma\s+)?)?"
        rf"(?:{_IT_AI}\s*,?\s*)?non\s+(?:posso|sono\s+in\s+grado\s+di|riesco\s+a)\s+"
        r"(?:\w+\s+)?(?:aiutar\w*|assister\w*|rispondere|fornire|soddisfare|fare|generare"
        r"|creare)",
        # Japanese
        r"^(?:申し訳[^。]{0,12}?が|すみませんが|恐れ入りますが|残念ながら)?[、,]?[^。]{0,30}?"
        r"(?:お手伝い|お答え|お応え|回答|対応|協力|提供|支援|手伝|応じ)[^。]{0,6}?"
        r"(?:でき(?:ません|ない)|いたしかねます|しかねます)",
        # Chinese
        r"^(?:(?:很|非常)?抱歉|对不起|不好意思|很遗憾)?[\uff0c,、]?\s*(?:但(?:是)?)?"
        rf"(?:{_ZH_AI})?(?:我|我们)(?:无法|不能|没办法|不可以|不便)"
        r"(?:为你|为您|帮你|帮您|向你|向您)?(?:提供|帮助|协助|回答|满足|完成|处理|帮|支持|回应"
        r"|生成|创建)",
        rf"^{_ZH_AI}我(?:无法|不能|没有)",
    )
]
# After the refusal clause, any of these means an answer follows in the same sentence.
_CONTRAST = re.compile(
    r"\b(?:but|however|though|although|instead|that\s+said|here'?s|here\s+is|pero|sin\s+embargo"
    r"|aunque|mais|cependant|toutefois|aber|jedoch|allerdings|mas|porém|contudo|ma|però"
    r"|tuttavia)\b|[;:]|但|不过|然而|が|けど|ただし|しかし"
)
_MAX_REFUSAL_TAIL = 100
_FILLER = [
    re.compile(p)
    for p in (
        rf"^{_EN_APOLOGY}(?:\s+for\s+(?:any|the)\s+(?:inconvenience|confusion))?[.!]*$",
        r"^(?:is\s+there\s+(?:anything|something)\s+else|let\s+me\s+know\s+if"
        r"|if\s+you\s+have\s+(?:any\s+)?(?:other|another|more|further)|feel\s+free\s+to"
        r"|(?:i'?m|i\s+am)\s+(?:here|happy|glad)\s+to\s+help\s+with\s+(?:anything|something)"
        r"|thank\s+you\s+for\s+(?:your\s+)?understanding|please\s+let\s+me\s+know)",
        r"^(?:lo\s+siento(?:\s+mucho)?|disculpa|disculpe|(?:je\s+suis\s+)?désolée?"
        r"|es\s+tut\s+mir\s+(?:sehr\s+)?leid|entschuldigung|desculpe|sinto\s+muito"
        r"|mi\s+dispiace|申し訳(?:ありません|ございません)|すみません|(?:很|非常)?抱歉|对不起)"
        r"[.!。\uff01]*$",
        r"^(?:¿\s*)?(?:hay\s+algo\s+más|puedo\s+ayudarte\s+con\s+algo\s+más|y\s+a-t-il"
        r"|puis-je\s+vous\s+aider|kann\s+ich\s+(?:dir|ihnen)\s+(?:sonst|bei\s+etwas\s+anderem)"
        r"|posso\s+(?:te\s+)?ajudar\s+com|c'è\s+(?:qualcos'altro|altro)|他に|还有什么|有什么其他)",
    )
]


def _clean_sentence(sentence: str) -> str:
    sentence = _APOSTROPHES.sub("'", sentence.lower())
    return re.sub(r"\s+", " ", sentence).strip(" \"'“”«»()[]")


def _is_refusal_sentence(sentence: str) -> bool:
    for pattern in _REFUSALS:
        match = pattern.match(sentence)
        if match:
            tail = sentence[match.end() :]
            return len(tail) <= _MAX_REFUSAL_TAIL and not _CONTRAST.search(tail)
    return False

"""The vocabulary of :mod:`agentmem.statements`: its sentence patterns and word lists.

Each pattern in ``_PATTERNS`` runs over a lowercased sentence (or the original one when it
needs a capital) and names its object ``obj`` (and ``prev`` for an explicit earlier value,
``kind`` for a favourite's kind); the word lists say what may open a subject, what marks a
negation, an ending, a change or a plan.
"""

from __future__ import annotations

import re


def _words(text: str) -> list[str]:
    return text.split()


_OBJ = r"(?P<obj>[^,;:!?()\"]+)"
# a business of one's own: up to two modifiers and a business noun ("my own dance studio")
_BIZ_NOUN = (r"(?:business|company|store|shop|studio|bakery|restaurant|cafe|café|boutique|salon|startup|agency|"
             r"firm|brand|gym|clinic|practice|label|food truck|nonprofit|charity|bar|brewery|farm)")
_MOD = r"(?!(?:and|or|the|to|of|for|with|in|at|on|a|an|this|that|my|our|his|her|their|some|up|out)\b)[a-z'-]+ "
_BIZ = rf"(?P<obj>(?:{_MOD}){{0,2}}{_BIZ_NOUN})\b"
_BIZ_DET = r"(?:an? |my |our |(?:my|our|his|her|their) own )?"
# "my company", "my studio" are often an employer or a room: without "own" only these count
_BIZ_MINE = (rf"(?P<obj>(?:{_MOD}){{0,2}}(?:business|store|shop|bakery|restaurant|cafe|café|boutique|salon|startup)|"
             rf"{_MOD}studio)\b")
_NOT_MINE = r"(?:favou?rite|local|usual|go-to|nearest|grocery|old|former|previous|regular|new favou?rite)"
_PREV = r"(?P<prev>[^,;:!?()\"]+?)"
# (pattern, relation, ended): each pattern runs over the lowercased sentence; named groups
# ``obj`` / ``prev`` / ``kind`` are cut from the original text at the same spans.
_PATTERNS: list[tuple[re.Pattern[str], str, bool]] = [
    (re.compile(rf"\b(?:moved|relocated|moving|relocating) (?:back )?to {_OBJ} from {_PREV}(?=$|[\s,.;!?])"), "lives in", False),
    (re.compile(rf"\b(?:moved|relocated|moving|relocating) (?:away )?from {_PREV} (?:back )?to {_OBJ}"), "lives in", False),
    (re.compile(rf"\b(?:moved|relocated|moving|relocating) (?:back |over )?to {_OBJ}"), "lives in", False),
    (re.compile(rf"\b(?:moved|relocated) (?:away )?(?:out )?(?:of|from) {_OBJ}"), "lives in", True),
    (re.compile(rf"\b(?:live|lives|lived|living|reside|resides|resided|based|settled|staying) in {_OBJ}"), "lives in", False),
    (re.compile(rf"\bhome is(?: now)? in {_OBJ}"), "lives in", False),
    (re.compile(rf"\b(?:left|quit) {_PREV} (?:to join|for|and joined|to work at|to start at) {_OBJ}"), "works at", False),
    (re.compile(rf"\b(?:work|works|worked|working|employed) (?:as an? [a-z-]+(?: [a-z-]+)? )?(?:at|for|by) {_OBJ}"), "works at", False),
    (re.compile(rf"\b(?:joined|got hired (?:at|by)|was hired (?:at|by)|got a job at|got a new job at|"
                rf"started (?:a new job |my new job |working |a job )?at|took a job at|landed a job at) {_OBJ}"), "works at", False),
    (re.compile(rf"\b(?:left|quit|was laid off from|got laid off from|lost my job at|resigned from) (?:my job at )?{_OBJ}"), "works at", True),
    (re.compile(rf"\b(?:start|starts|started|starting|open|opens|opened|opening|launch|launched|launching|run|runs|"
                rf"ran|running|founded|co-founded|set up|setting up) {_BIZ_DET}{_BIZ}"), "runs", False),
    (re.compile(rf"\b(?:my|our) (?:own )?(?!{_NOT_MINE} ){_BIZ_MINE}"), "runs", False),
    (re.compile(r"\b(?:[Mm]y|[Oo]ur) home ?(?:country|town|city|land)(?:,| is| was| of) (?P<obj>[A-Z][\w'-]*(?: [A-Z][\w'-]*)*)"),
     "is from", False),
    (re.compile(rf"\b(?:my name is|call me|am called|'m called|go by|changed my name to|name is now) {_OBJ}"), "is called", False),
    (re.compile(rf"\b(?:lost my job as|retired as|stopped being|quit my job as) (?:an? )?{_OBJ}"), "role", True),
    (re.compile(rf"\b(?:work|works|worked|working|started|start|job) as (?:an? )?{_OBJ}"), "role", False),
    (re.compile(r"\b(?:am|'m|is|are|was|became|become|becoming|got promoted to|promoted to|trained as|qualified as) "
                r"(?:now |finally |officially |also |still )?(?:an? )(?P<obj>[a-z-]+(?: [a-z-]+)?)"), "role", False),
    (re.compile(r"\b(?:am|'m|is|are|got|getting|became|was) (?:now |finally |officially |still |happily )?"
                r"(?P<obj>single|married|engaged|divorced|separated|widowed|retired|unemployed|pregnant|"
                r"vegetarian|vegan|in a relationship)\b"), "status", False),
    (re.compile(r"\b(?:am|'m|is|turned|just turned|will be) (?P<obj>\d{1,3})(?: years old| this year)?(?=$|[\s,.;!?])"), "age", False),
    (re.compile(rf"\b(?:study|studies|studying|studied|enrolled|student) at {_OBJ}"), "studies at", False),
    (re.compile(rf"\bfav(?:ou)?rite (?P<kind>[a-z]+(?: [a-z]+)?) (?:is|was|has become|became) (?:now |still )?{_OBJ}"), "favourite", False),
    (re.compile(rf"\b(?:prefer|prefers|preferred|switched to|changed to) {_OBJ}"), "prefers", False),
    (re.compile(rf"(?<!'s )(?<!is )(?<!was )(?<!feel )(?<!feels )(?<!felt )(?<!look )(?<!looks )(?<!seems )(?<!just )"
                rf"(?<!more )(?<!things )(?<!stuff )\b(?:like|likes|love|loves|enjoy|enjoys|liked|loved|enjoyed|into|hate|hates|dislike|dislikes) {_OBJ}"), "likes", False),
    (re.compile(rf"\b(?:use|uses|used|using|worked with|work with|coded in|code in|program in|written in) (?!to\b){_OBJ}"), "uses", False),
    (re.compile(r"\b(?:wrote|built|deployed|shipped|implemented|coded|set up|maintain|maintained|debugged|fixed) "
                r"(?:the |a |an |our |my |some |this |that )?(?P<obj>[A-Z][\w.+#-]*)(?= [a-z])"), "uses", False),
    (re.compile(rf"\b(?:visited|been to|went to|traveled to|travelled to|trip to) {_OBJ}"), "has visited", False),
    (re.compile(rf"(?<!my )(?<!our )(?<!his )(?<!her )(?<!their )\b(?:own|owns|owned|bought|adopted) (?:an? |my own )?{_OBJ}"), "owns", False),
    (re.compile(rf"\b(?:am|'m|is|are|come) from {_OBJ}"), "is from", False),
]
_PAST_OPENERS = frozenset(_words("my call got left quit lost became been went wrote built bought moved joined started"))
# a plan or a wish is not a fact: "I'm gonna take a shot at starting my own business"
_PLAN = re.compile(
    r"\b(?:gonna|going to|wanna|want to|wants to|wanted to|hope to|hoping to|hopes to|plan to|plans to|planning to|"
    r"planning on|thinking of|thinking about|considering|would like to|'d like to|would love to|'d love to|"
    r"dream of|dreaming of|dreams of|someday|one day|might|may|take a shot at|try to|trying to|about to|if)\b"
)
# where a clause starts: a plan word before it belongs to another clause
_CLAUSE = re.compile(r"[,;:]|\b(?:and|but|so|because|'cause)\b")
_INFINITIVE = re.compile(r"(?<!\bused )(?<!\bhave )(?<!\bhas )(?<!\bhad )\bto\s*$", re.IGNORECASE)
_COORDINATED = re.compile(r"\b(?:and|then|and then)\s*$", re.IGNORECASE)  # a verb sharing the clause's subject
_OWN = re.compile(r"^(?:own|dream|new|little)\s+", re.IGNORECASE)
_GENERIC_BIZ = frozenset(_words("business company startup store shop brand firm"))
_HATE = re.compile(r"\b(?:hate|hates|dislike|dislikes)\b")
_NEG = re.compile(r"\b(?:never|not|no|n't|don't|doesn't|didn't|haven't|hasn't|isn't|aren't|wasn't|won't|cannot|can't)\b|n't\b")
_ENDED = re.compile(r"\b(?:no longer|not anymore|anymore|any more|used to|formerly|previously)\b")
_CHANGE = re.compile(
    r"\b(?:now|nowadays|these days|anymore|any more|no longer|started|start|began|begin|switched|switch|moved|"
    r"changed|recently|finally|since|just|became|joined|got|lately|at last|decided|launched|launching|opened|opening|"
    r"starting|quit|left|"
    r"new (?:job|home|house|flat|apartment|place|city|town|country|role|position|company|employer|name))\b"
)
_STOP_OBJ = re.compile(
    r"\s+(?:because|'cause|cause|cuz|and|but|since|when|while|with|last|this|next|for|after|before|until|so|as|now|anymore|"
    r"any more|again|too|recently|these days|at the moment|right now|yesterday|today|ago|then|though|"
    r"which|who|where|that|if|or|to|from|at|instead|nowadays|lately|anyway|already|every|each|in \d{4}|in the|"
    r"in (?:january|february|march|april|may|june|july|august|september|october|november|december)|"
    r"on \w+day|near|around|i|we|he|she|they|it|you)\b.*$",
    re.IGNORECASE,
)
_DET = re.compile(r"^(?:the|a|an|my|our|his|her|their|some|this|that)\s+", re.IGNORECASE)
_AUX = frozenset(
    _words("""have has had am is are was were be been do does did don't doesn't didn't never not no longer just also
    recently finally now still really actually already currently officially haven't hasn't used to will would
    ever even both since then eventually 've 'm 're 'd 'll i've i'm i'd i'll we've we're all mostly always
    basically totally kind of sort of gonna going wanna want wanted hope hoping plan planning can could""")
)
_FIRST = frozenset(_words("i i'm i've i'd i'll im ive we we've we're we'd"))
_SKIP_SUBJ = frozenset(_words("""you you've you're he she they it this that there who which what someone it's its their
    his her our your they're they've that's there's what's here here's"""))
_KIN = frozenset(
    _words("""sister brother mom mum mother dad father wife husband partner son daughter friend boss cousin aunt uncle
    grandma grandmother grandpa grandfather girlfriend boyfriend roommate colleague coworker neighbour neighbor
    kid kids parents family""")
)
_OPENERS = frozenset(_words("so well oh yes yeah hey hi hello and but also now btw wow ok okay thanks sorry"))
_NAME = re.compile(r"^[A-Z][\w'-]*$")
_GENERIC = frozenset(_words("user human me you assistant ai system document speaker"))
_BAD_ROLE = frozenset(
    _words("""lot bit fan little big huge great good bad new few couple kind sort part person guy girl fan lover
    long hard way time day week year month fun mess joke thing lucky blessing must mix kid child teen teenager
    baby""")
)
HOMELAND = re.compile(r"home ?(?:country|town|city|land)", re.IGNORECASE)
"""An object that stands for where the subject is from ("I moved from my home country")."""
_BAD_OBJ = frozenset(_words("""it that this them there here one something anything everything nothing home with of to
    is are was be being for by about into"""))
_WORD = re.compile(r"[A-Za-z][\w'’-]*")


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"“(\[]?[A-Z0-9])|\n+")
_ABBREV = re.compile(r"\b(?:[A-Z]|Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Mt|No|vs|U\.S|U\.K|Inc|Ltd|Co)\.$")

"""How fast flows load and calls step.

Run from the project root:

    .venv/bin/python -m bench.flows            # the full run (about 40 s on 2 cores)
    .venv/bin/python -m bench.flows --quick    # a short run
    .venv/bin/python -m bench.flows --json     # the figures as JSON
    .venv/bin/python -m bench.flows --profile  # also profile lint_text on 1,000 nodes

Part 1 generates flows of 250 to 4,000 nodes as YAML text (English and Spanish
prompts, a realistic mix of node kinds, every node reachable, no lint problems)
and times `lint_text` on each: the median of several runs after a warm-up, split
into YAML composing (`yaml.compose` with the C loader) and everything after it.
The goal is under 100 ms for 1,000 nodes; when it is missed (or with --profile)
the parts of `lint_text` are timed separately and it is profiled with cProfile.

Part 2 plays many random calls through `engine.step` (keys, silences, transfer
and recording outcomes) and counts steps per second, alone and with the JSON round
trip of the call state that every web turn pays.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import math
import platform
import pstats
import random
import re
import statistics
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from ivr.engine.commands import Dial, Gather, Hangup, Record
from ivr.engine.step import decode_state, encode_state, step
from ivr.engine.events import DIAL_STATUSES, CallStarted, DialDone, Digits, NoInput, RecordingDone
from ivr.flows.model import NODE_KINDS
from ivr.flows.loader import lint_text, load_flow
from ivr.flows.problems import FlowError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_FLOW = ROOT / "flows" / "support-line.yaml"
SIZES = (250, 500, 1000, 2000, 4000)
GOAL_NODES = 1000
GOAL_MS = 100.0
LOADER = getattr(yaml, "CSafeLoader", None)

# =====================================================================================
# Part 1: a generated flow
# =====================================================================================

PARENT = "<parent>"  # stands for the menu a module was reached from, filled in when written


class T:
    """A prompt in English and Spanish."""

    __slots__ = ("en", "es")

    def __init__(self, en: str, es: str):
        self.en = en
        self.es = es


class Inline(dict):
    """A mapping written in flow style: {a: b}."""


class InlineList(list):
    """A list written in flow style: [a, b]."""


TOPICS = [  # (answer-safe slug, English label, Spanish label)
    ("billing", "billing and payments", "facturas y pagos"),
    ("pharmacy", "prescription refills", "surtido de recetas"),
    ("rides", "rides to appointments", "transporte a citas"),
    ("appointments", "doctor visits", "consultas médicas"),
    ("benefits", "your benefits", "sus beneficios"),
    ("enrollment", "enrollment", "la inscripción"),
    ("mental_health", "mental health support", "apoyo de salud mental"),
    ("dental", "dental care", "atención dental"),
    ("vision", "vision care", "atención de la vista"),
    ("housing", "housing help", "ayuda con vivienda"),
    ("food", "food assistance", "ayuda con alimentos"),
    ("caregivers", "caregiver support", "apoyo para cuidadores"),
    ("records", "medical records", "expedientes médicos"),
    ("interpreters", "interpreter services", "servicios de intérprete"),
    ("appeals", "complaints and appeals", "quejas y apelaciones"),
    ("equipment", "medical equipment", "equipo médico"),
    ("home_visits", "home visits", "visitas al hogar"),
    ("referrals", "specialist referrals", "referencias a especialistas"),
    ("vaccines", "vaccines", "vacunas"),
    ("lab_results", "lab results", "resultados de laboratorio"),
]
AREAS = [
    ("member services", "servicios para miembros"),
    ("health programs", "programas de salud"),
    ("community resources", "recursos comunitarios"),
    ("clinic services", "servicios de la clínica"),
    ("care coordination", "coordinación de atención"),
    ("plans and coverage", "planes y cobertura"),
]
REGIONS = ["Pasadena", "Pomona", "Glendale", "Whittier", "Burbank", "Lancaster", "Downey", "Alhambra"]
TEAMS = {
    "coordinators": ["+16266696777", "+16265550140"],
    "transportation": ["+16265550111"],
    "pharmacy": ["+16265550122"],
    "billing": ["+16265550133"],
    "nurses": ["+16265550150", "+16265550151"],
}
FACTS = [
    ("Here is what to know about {t}. Most requests are answered within two business days.",
     "Esto es lo que debe saber sobre {t}. La mayoría de las solicitudes se responden en dos días hábiles."),
    ("Our team is available Monday through Friday, from 8 in the morning to 6 in the evening, except on holidays.",
     "Nuestro equipo atiende de lunes a viernes, de 8 de la mañana a 6 de la tarde, excepto los días festivos."),
    ("Please have the member's card ready when you call, so we can find the right record quickly.",
     "Tenga a la mano la tarjeta del miembro cuando llame, para encontrar pronto el expediente correcto."),
    ("There is no cost for {t} when the service is covered by your Medi-Cal health plan.",
     "No hay costo por {t} cuando el servicio está cubierto por su plan de salud de Medi-Cal."),
    ("If your needs change, call us again and a care coordinator will review your options with you.",
     "Si sus necesidades cambian, llámenos otra vez y un coordinador de atención revisará sus opciones con usted."),
    ("You can also find this information on our website, or ask your doctor's office for a printed copy.",
     "También puede encontrar esta información en nuestro sitio web, o pedir una copia impresa en el "
     "consultorio de su médico."),
    ("The health plan makes the final decision, and it will send you a letter with the result.",
     "El plan de salud toma la decisión final, y le enviará una carta con el resultado."),
]
QUESTIONS = [  # (menu label en, es; the question as asked en, es)
    ("how to get started", "cómo empezar", "How do I get started?", "¿Cómo empiezo?"),
    ("what it costs", "cuánto cuesta", "What does it cost?", "¿Cuánto cuesta?"),
    ("who qualifies", "quién califica", "Who qualifies?", "¿Quién califica?"),
    ("what to bring", "qué debe traer", "What should I bring?", "¿Qué debo traer?"),
    ("how long it takes", "cuánto tiempo tarda", "How long does it take?", "¿Cuánto tiempo tarda?"),
]
RECIPE_WEIGHTS = {"info": 22, "faq": 20, "screening": 18, "appointment": 14, "callback": 12, "lookup": 14}


def _fact(rng: random.Random, topic) -> T:
    en, es = rng.choice(FACTS)
    return T(en.format(t=topic[1]), es.format(t=topic[2]))


def _sections(rng: random.Random, topic, count: int):
    picked = rng.sample(FACTS, count)
    texts = [T(en.format(t=topic[1]), es.format(t=topic[2])) for en, es in picked]
    return texts[0] if count == 1 else texts


def _transfer(team: str, topic, tell=()) -> dict:
    node = {
        "transfer": team,
        "announce": T(f"Connecting you with someone who can help with {topic[1]}. Please stay on the line.",
                      f"Le comunico con alguien que le puede ayudar con {topic[2]}. Por favor, no cuelgue."),
    }
    told = [name for name in tell if not name.endswith(("_member", "_dob"))]  # never an id in a whisper
    if told:
        node["whisper"] = T("Caller's answers: " + ", ".join("{{ %s }}" % name for name in told) + ".",
                            "Respuestas: " + ", ".join("{{ %s }}" % name for name in told) + ".")
    node["timeout"] = 25
    node["no_answer"] = "voicemail"
    return node


def _goodbye(rng: random.Random) -> dict:
    return {"hangup": rng.choice([
        T("Thank you for calling. Goodbye.", "Gracias por llamar. Adiós."),
        T("We will be in touch soon. Thank you for calling. Goodbye.",
          "Nos comunicaremos con usted pronto. Gracias por llamar. Adiós."),
        T("Thank you. Take care, and goodbye.", "Gracias. Cuídese mucho. Adiós."),
    ])}


def _module_info(p, topic, team, rng):
    return {
        f"{p}_info": {"say": _sections(rng, topic, rng.choice((2, 2, 3))), "next": f"{p}_more"},
        f"{p}_more": {
            "menu": T(f"To hear that again, press 1. To talk with someone about {topic[1]}, press 2. "
                      "For the previous menu, press 3.",
                      f"Para escucharlo otra vez, oprima 1. Para hablar con alguien sobre {topic[2]}, oprima 2. "
                      "Para el menú anterior, oprima 3."),
            "options": {"1": f"{p}_info", "2": f"{p}_agent", "3": PARENT},
        },
        f"{p}_agent": _transfer(team, topic),
    }


def _module_faq(p, topic, team, rng):
    questions = rng.sample(QUESTIONS, rng.choice((2, 3, 3, 4)))
    k = len(questions)
    en = " ".join(f"To learn {q[0]}, press {i}." for i, q in enumerate(questions, 1))
    es = " ".join(f"Para saber {q[1]}, oprima {i}." for i, q in enumerate(questions, 1))
    nodes = {
        f"{p}_faqs": {
            "menu": T(f"Questions about {topic[1]}. {en} For the previous menu, press {k + 1}.",
                      f"Preguntas sobre {topic[2]}. {es} Para el menú anterior, oprima {k + 1}."),
            "options": {**{str(i): f"{p}_faq{i}" for i in range(1, k + 1)}, str(k + 1): PARENT},
        },
    }
    for i, (_, _, q_en, q_es) in enumerate(questions, 1):
        parts = rng.choice((1, 2, 2, 3))
        body = _sections(rng, topic, parts)
        first = body if isinstance(body, T) else body[0]
        opened = T(f"{q_en} {first.en}", f"{q_es} {first.es}")
        body = opened if isinstance(body, T) else [opened, *body[1:]]
        nodes[f"{p}_faq{i}"] = {"say": body, "next": f"{p}_faqs"}
    return nodes


def _module_screening(p, topic, team, rng):
    nodes = {
        f"{p}_intro": {"say": _sections(rng, topic, 2), "next": f"{p}_urgent"},
        f"{p}_urgent": {
            "ask": T(f"Is this about {topic[1]} something that cannot wait until tomorrow?",
                     f"¿Este asunto de {topic[2]} no puede esperar hasta mañana?"),
            "expect": "yesno", "save": f"{p}_urgent", "next": f"{p}_ongoing",
        },
        f"{p}_ongoing": {
            "ask": T("Does the member live with a long-lasting health condition?",
                     "¿El miembro vive con una enfermedad de larga duración?"),
            "expect": "yesno", "save": f"{p}_ongoing", "next": f"{p}_mobility",
        },
        f"{p}_mobility": {
            "ask": T("If they walk on their own, press 1. If they use a wheelchair, press 2. "
                     "If they need a stretcher, press 3.",
                     "Si camina sin ayuda, oprima 1. Si usa silla de ruedas, oprima 2. Si necesita camilla, oprima 3."),
            "expect": "choice",
            "choices": {"1": "walks", "2": "wheelchair", "3": "stretcher"},
            "save": f"{p}_mobility",
            "next": f"{p}_decide",
        },
        f"{p}_decide": {
            "decide": [
                {"when": f"{p}_urgent == 'yes'", "next": f"{p}_agent", "set": Inline({f"{p}_route": "urgent"})},
                {"when": f"{p}_ongoing == 'yes' and {p}_mobility != 'walks'", "next": f"{p}_rec_visit",
                 "set": Inline({f"{p}_route": "home_visit"})},
                {"when": f"{p}_ongoing == 'yes'", "next": f"{p}_rec_program"},
            ],
            "default": f"{p}_rec_info",
        },
        f"{p}_rec_visit": {
            "say": T(f"From your answers, a home visit about {topic[1]} may be the best fit. "
                     "A coordinator can set it up.",
                     f"Según sus respuestas, una visita al hogar sobre {topic[2]} podría ser lo mejor. "
                     "Un coordinador puede programarla."),
            "next": f"{p}_after",
        },
        f"{p}_rec_program": {
            "say": T("From your answers, a long-term care program may help. The health plan decides who qualifies.",
                     "Según sus respuestas, un programa de atención a largo plazo podría ayudarle. "
                     "El plan de salud decide quién califica."),
            "next": f"{p}_after",
        },
        f"{p}_rec_info": {"say": _fact(rng, topic), "next": f"{p}_after"},
        f"{p}_after": {
            "menu": T("To talk with a coordinator, who will be told your answers, press 1. "
                      "To answer the questions again, press 2. For the previous menu, press 3. "
                      "If you are done, press 4.",
                      "Para hablar con un coordinador, que conocerá sus respuestas, oprima 1. "
                      "Para contestar otra vez, oprima 2. Para el menú anterior, oprima 3. "
                      "Si ya terminó, oprima 4."),
            "options": {"1": f"{p}_agent", "2": f"{p}_urgent", "3": PARENT, "4": f"{p}_bye"},
        },
        f"{p}_agent": _transfer(team, topic, [f"{p}_urgent", f"{p}_ongoing", f"{p}_mobility"]),
        f"{p}_bye": _goodbye(rng),
    }
    if rng.random() < 0.5:
        nodes[f"{p}_mobility"].update(retries=3, reprompt=T("Please press 1, 2 or 3.", "Por favor, oprima 1, 2 o 3."))
    return nodes


def _module_appointment(p, topic, team, rng):
    time_ask = {
        "ask": T("Enter the time you prefer as four digits. For 9:30, press 0 9 3 0.",
                 "Marque la hora que prefiere con cuatro dígitos. Para las 9:30, oprima 0 9 3 0."),
        "expect": "digits", "validate": "time_hhmm", "save": f"{p}_time", "next": f"{p}_confirm",
    }
    if rng.random() < 0.5:
        time_ask["readback"] = True
    return {
        f"{p}_intro": {
            "say": T(f"Let's request an appointment for {topic[1]}. You will need the member ID.",
                     f"Vamos a pedir una cita para {topic[2]}. Necesitará el número de miembro."),
            "next": f"{p}_member",
        },
        f"{p}_member": {
            "ask": T("Enter the member ID from the card, then press pound.",
                     "Marque el número de miembro de la tarjeta, y luego oprima la tecla de número."),
            "expect": "digits", "validate": "member_id", "finish_key": "#", "readback": True,
            "timeout": 10, "save": f"{p}_member", "next": f"{p}_date",
        },
        f"{p}_date": {
            "ask": T("Enter the month and day you would like, as four digits. For March 5th, press 0 3 0 5.",
                     "Marque el mes y el día que desea, con cuatro dígitos. Para el 5 de marzo, oprima 0 3 0 5."),
            "expect": "digits", "validate": "future_date_mmdd", "readback": True, "save": f"{p}_date",
            "next": f"{p}_time",
        },
        f"{p}_time": time_ask,
        f"{p}_confirm": {
            "ask": T(f"You asked for {{{{ {p}_date | spoken_date }}}} at {{{{ {p}_time | spoken_time }}}}, "
                     f"for member {{{{ {p}_member | spoken_digits }}}}. Is that right?",
                     f"Usted pidió el {{{{ {p}_date | spoken_date }}}} a las {{{{ {p}_time | spoken_time }}}}, "
                     f"para el miembro {{{{ {p}_member | spoken_digits }}}}. ¿Es correcto?"),
            "expect": "yesno", "save": f"{p}_ok", "next": f"{p}_decide",
        },
        f"{p}_decide": {
            "decide": [
                {"when": f"{p}_ok == 'yes' and {p}_member != ''", "next": f"{p}_text",
                 "set": Inline({f"{p}_status": "requested"})},
                {"when": f"{p}_ok == 'no'", "next": f"{p}_date"},
            ],
            "default": f"{p}_agent",
        },
        f"{p}_text": {
            "action": "send_text",
            "params": {"body": f"We received your request for {{{{ {p}_date | spoken_date }}}} "
                               f"at {{{{ {p}_time | spoken_time }}}}. We will call to confirm."},
            "next": f"{p}_bye",
        },
        f"{p}_bye": {"hangup": T("We will call you to confirm the appointment. Thank you for calling. Goodbye.",
                                 "Le llamaremos para confirmar la cita. Gracias por llamar. Adiós.")},
        f"{p}_agent": _transfer(team, topic, [f"{p}_member", f"{p}_date"]),
    }


def _module_callback(p, topic, team, rng):
    return {
        f"{p}_intro": {
            "say": T(f"We can call you back about {topic[1]} within one business day.",
                     f"Podemos devolverle la llamada sobre {topic[2]} en un día hábil."),
            "next": f"{p}_phone",
        },
        f"{p}_phone": {
            "ask": T("Enter the ten-digit phone number where we can reach you.",
                     "Marque el número de teléfono de diez dígitos donde podemos llamarle."),
            "expect": "digits", "validate": "phone", "readback": True, "retries": 3,
            "reprompt": T("That number doesn't look complete.", "Ese número no parece completo."),
            "save": f"{p}_phone", "next": f"{p}_when",
        },
        f"{p}_when": {
            "ask": T("For a call in the morning, press 1. In the afternoon, press 2. In the evening, press 3.",
                     "Para una llamada por la mañana, oprima 1. Por la tarde, oprima 2. Por la noche, oprima 3."),
            "expect": "choice", "choices": {"1": "morning", "2": "afternoon", "3": "evening"},
            "save": f"{p}_when", "next": f"{p}_confirm",
        },
        f"{p}_confirm": {
            "say": T(f"We will call you at {{{{ {p}_phone | spoken_phone }}}} in the {{{{ {p}_when }}}}.",
                     f"Le llamaremos al {{{{ {p}_phone | spoken_phone }}}}."),
            "next": f"{p}_message",
        },
        f"{p}_message": {
            "record": T("After the beep, tell us briefly what you need. Press pound when you are done.",
                        "Después del tono, díganos brevemente qué necesita. Oprima la tecla de número al terminar."),
            "save": f"{p}_message", "max_length": 90, "next": f"{p}_bye",
        },
        f"{p}_bye": _goodbye(rng),
    }


def _module_lookup(p, topic, team, rng):
    region = rng.choice(REGIONS)
    return {
        f"{p}_zip": {
            "ask": T(f"To find the closest office for {topic[1]}, enter your five-digit ZIP code.",
                     f"Para encontrar la oficina más cercana para {topic[2]}, marque su código postal de cinco "
                     "dígitos."),
            "expect": "digits", "validate": "zip", "save": f"{p}_zip", "next": f"{p}_dob",
        },
        f"{p}_dob": {
            "ask": T("Enter the member's date of birth as eight digits: month, day and year.",
                     "Marque la fecha de nacimiento del miembro con ocho dígitos: mes, día y año."),
            "expect": "digits", "validate": "dob", "readback": True, "save": f"{p}_dob", "next": f"{p}_check",
            "on_fail": f"{p}_agent",
        },
        f"{p}_check": {
            "decide": [{"when": f"{p}_zip >= '90001' and {p}_zip <= '96162'", "next": f"{p}_local"}],
            "default": f"{p}_away",
        },
        f"{p}_local": {
            "say": [T(f"The closest office to {{{{ {p}_zip | spoken_digits }}}} is our {region} office.",
                      f"La oficina más cercana al {{{{ {p}_zip | spoken_digits }}}} es la de {region}."),
                    _fact(rng, topic)],
            "next": PARENT,
        },
        f"{p}_away": {
            "say": T(f"The ZIP code {{{{ {p}_zip | spoken_digits }}}} is outside our service area. "
                     "Your health plan can tell you who serves it.",
                     f"El código postal {{{{ {p}_zip | spoken_digits }}}} está fuera de nuestra zona. "
                     "Su plan de salud le puede decir quién la atiende."),
            "next": f"{p}_bye",
        },
        f"{p}_agent": _transfer(team, topic, [f"{p}_zip"]),
        f"{p}_bye": _goodbye(rng),
    }


RECIPES = {
    "info": _module_info, "faq": _module_faq, "screening": _module_screening,
    "appointment": _module_appointment, "callback": _module_callback, "lookup": _module_lookup,
}
TOPIC_TEAMS = {"billing": "billing", "pharmacy": "pharmacy", "rides": "transportation", "vaccines": "nurses",
               "lab_results": "nurses", "mental_health": "nurses"}
HEADER_NODES = 7  # greeting, language, welcome, main_menu; operator, voicemail, goodbye at the end


def _chunks(items: list, level: int) -> list[list]:
    """Split items into menus of 3 to 5 options."""
    k = math.ceil(len(items) / (5 if level % 2 else 4))
    size, extra = divmod(len(items), k)
    out, at = [], 0
    for i in range(k):
        n = size + (1 if i < extra else 0)
        out.append(items[at:at + n])
        at += n
    return out


def _menu_count(modules: int) -> int:
    """Menus the grouping adds above `modules` modules (the main menu is a header node)."""
    count, level, items = 0, 0, modules
    while items > 5:
        items = math.ceil(items / (5 if level % 2 else 4))
        count += items
        level += 1
    return count


def _menu_prompt(entries, closing: T | None) -> T:
    """'For X, press 1. ...' in both languages, kept within the lint's 50 words."""
    for use_region in (True, False):
        en = " ".join(f"For {e['en'] if use_region else e['en_short']}, press {e['key']}." for e in entries)
        es = " ".join(f"Para {e['es'] if use_region else e['es_short']}, oprima {e['key']}." for e in entries)
        for tail in ((closing,) if closing else ()) + (None,):
            text = T(f"{en} {tail.en}" if tail else en, f"{es} {tail.es}" if tail else es)
            if max(len(text.en.split()), len(text.es.split())) <= 50:
                return text
    return text


def generate_flow(n_nodes: int, seed: int = 1) -> tuple[str, Counter]:
    """YAML text of a flow with exactly `n_nodes` nodes, and the count of each kind."""
    rng = random.Random(seed * 100_003 + n_nodes)
    modules: list[dict] = []  # {"id", "topic", "nodes"}
    used = HEADER_NODES
    names, weights = list(RECIPE_WEIGHTS), list(RECIPE_WEIGHTS.values())
    while True:
        i = len(modules)
        topic = TOPICS[i % len(TOPICS)]
        team = TOPIC_TEAMS.get(topic[0], "coordinators")
        recipe = rng.choices(names, weights)[0]
        nodes = RECIPES[recipe](f"m{i + 1}", topic, team, rng)
        grow = len(nodes) + _menu_count(i + 1) - _menu_count(i)
        if used + grow > n_nodes:
            break
        used += grow
        modules.append({"id": f"m{i + 1}", "topic": topic, "nodes": nodes})
    # Pad to the exact size with short notes in front of modules.
    notes = [T("Please have the member's card ready.", "Por favor, tenga a la mano la tarjeta del miembro."),
             T("This call may be recorded to help us serve you better.",
               "Esta llamada puede ser grabada para ayudarle mejor."),
             T("Our offices are closed on state holidays.", "Nuestras oficinas cierran los días festivos.")]
    for j in range(n_nodes - used):
        module = modules[j % len(modules)]
        entry = next(iter(module["nodes"]))
        note_id = f"{module['id']}_note{j // len(modules) + 1}"
        module["nodes"] = {note_id: {"say": rng.choice(notes), "next": entry}, **module["nodes"]}

    # Group modules under menus of 3 to 5 options until the main menu can hold them.
    items = [{"entry": next(iter(m["nodes"])), "en": m["topic"][1], "es": m["topic"][2], "en_short": m["topic"][1],
              "es_short": m["topic"][2], "slug": m["topic"][0]} for m in modules]
    menus: dict[str, dict] = {}
    parent_of: dict[str, str] = {}
    level = 0
    while len(items) > 5:
        grouped = []
        for j, chunk in enumerate(_chunks(items, level)):
            area = AREAS[(j + level) % len(AREAS)]
            region = REGIONS[j % len(REGIONS)]
            menu_id = f"menu{level + 1}_{j + 1}"
            menus[menu_id] = _menu_node(chunk, rng)
            for item in chunk:
                parent_of[item["entry"]] = menu_id
            grouped.append({"entry": menu_id, "en": f"{area[0]} in {region}", "es": f"{area[1]} en {region}",
                            "en_short": area[0], "es_short": area[1], "slug": None})
        items = grouped
        level += 1
    for item in items:
        parent_of[item["entry"]] = "main_menu"
    top = items + ([{"entry": "operator", "en": "a care coordinator", "es": "un coordinador de atención",
                     "en_short": "a coordinator", "es_short": "un coordinador", "slug": None}]
                   if len(items) < 5 else [])
    main_menu = _menu_node(top, rng)

    header = {
        "greeting": {"say": T("If this is a medical emergency, hang up and dial 911.",
                              "Si tiene una emergencia médica, cuelgue y marque el 911."),
                     "next": "language"},
        "language": {"menu": T("For English, press 1. Para español, oprima 2.",
                               "For English, press 1. Para español, oprima 2."),
                     "options": {"1": Inline(next="welcome", set=Inline(lang="en")),
                                 "2": Inline(next="welcome", set=Inline(lang="es"))}},
        "welcome": {"say": T("Welcome to the member support line.", "Le damos la bienvenida a la línea de apoyo."),
                    "next": "main_menu"},
        "main_menu": main_menu,
    }
    footer = {
        "operator": {"transfer": "coordinators",
                     "announce": T("Let me connect you with a person. Please stay on the line.",
                                   "Le comunico con una persona. Por favor, no cuelgue."),
                     "timeout": 25, "no_answer": "voicemail"},
        "voicemail": {"record": T("Sorry, no one can take your call right now. After the beep, please say your "
                                  "name and a phone number, and we will call you back.",
                                  "Lo sentimos, nadie puede atenderle ahora. Después del tono, diga su nombre y "
                                  "un número de teléfono, y le devolveremos la llamada."),
                      "save": "voicemail", "max_length": 120, "next": "goodbye"},
        "goodbye": {"hangup": T("Thank you for calling. Goodbye.", "Gracias por llamar. Adiós.")},
    }

    out = _Writer(rng)
    out.line(f"# A generated flow of {n_nodes} nodes for bench/flows.py.")
    out.entry("flow", f"generated-{n_nodes}", 0)
    out.entry("start", "greeting", 0)
    out.entry("languages", InlineList(["en", "es"]), 0)
    out.entry("settings", {
        "voices": Inline({"en": "Polly.Joanna", "es": "Polly.Lupe"}),
        "timeout": 6, "retries": 2, "on_fail": "operator", "operator": "operator",
        "keys": Inline({"repeat": "*", "back": "9", "operator": "0"}),
    }, 0)
    out.entry("teams", {team: InlineList(numbers) for team, numbers in TEAMS.items()}, 0)
    out.line("")
    out.line("nodes:")
    kinds: Counter = Counter()

    def write(node_id, node, parent=None):
        if parent is not None:
            node = _fill_parent(node, parent)
        kinds[next(k for k in node if k in NODE_KINDS)] += 1
        out.entry(node_id, node, 2)
        out.line("")

    for node_id, node in header.items():
        write(node_id, node)
    for menu_id, node in menus.items():
        write(menu_id, node)
    for module in modules:
        out.line(f"  # --- {module['topic'][1]} ({module['id']}) " + "-" * 40)
        parent = parent_of[next(iter(module["nodes"]))]
        for node_id, node in module["nodes"].items():
            write(node_id, node, parent)
    for node_id, node in footer.items():
        write(node_id, node)
    assert sum(kinds.values()) == n_nodes, (sum(kinds.values()), n_nodes)
    return out.text(), kinds


def _menu_node(items, rng: random.Random) -> dict:
    entries = [{**item, "key": str(i)} for i, item in enumerate(items, 1)]
    options = {}
    for e in entries:
        if e["slug"] and rng.random() < 0.5:
            options[e["key"]] = Inline(next=e["entry"], set=Inline(topic=e["slug"]))
        else:
            options[e["key"]] = e["entry"]
    node = {"menu": _menu_prompt(entries, T("To repeat, press star.", "Para repetir, oprima asterisco.")),
            "options": options}
    if rng.random() < 0.2:
        node["timeout"] = 8
    return node


def _fill_parent(value, parent: str):
    if value == PARENT:
        return parent
    if isinstance(value, Inline):
        return Inline({k: _fill_parent(v, parent) for k, v in value.items()})
    if isinstance(value, dict):
        return {k: _fill_parent(v, parent) for k, v in value.items()}
    if isinstance(value, list) and not isinstance(value, InlineList):
        return [_fill_parent(v, parent) for v in value]
    return value


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_NOT_PLAIN = {"yes", "no", "true", "false", "on", "off", "null", "y", "n"}


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if _PLAIN.match(value) and value.lower() not in _NOT_PLAIN:
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _inline(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(a)}: {_inline(b)}" for a, b in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return _scalar(value)


class _Writer:
    """Block-style YAML the way people write flows by hand (prompts in three styles)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lines: list[str] = []

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def line(self, text: str) -> None:
        self.lines.append(text)

    def entry(self, key, value, indent: int) -> None:
        pad, k = " " * indent, _scalar(key)
        if isinstance(value, T):
            if len(value.en) + len(value.es) < 110 and self.rng.random() < 0.6:
                self.lines.append(f"{pad}{k}: {{en: {_scalar(value.en)}, es: {_scalar(value.es)}}}")
            else:
                self.lines.append(f"{pad}{k}:")
                self.prompt(value, indent + 2)
        elif isinstance(value, (Inline, InlineList)):
            self.lines.append(f"{pad}{k}: {_inline(value)}")
        elif isinstance(value, dict):
            self.lines.append(f"{pad}{k}:")
            for a, b in value.items():
                self.entry(a, b, indent + 2)
        elif isinstance(value, list):
            self.lines.append(f"{pad}{k}:")
            for item in value:
                self.item(item, indent + 2)
        else:
            self.lines.append(f"{pad}{k}: {_scalar(value)}")

    def item(self, item, indent: int) -> None:
        first = len(self.lines)
        if isinstance(item, T):
            self.prompt(item, indent + 2)
        else:
            for a, b in item.items():
                self.entry(a, b, indent + 2)
        self.lines[first] = " " * indent + "- " + self.lines[first][indent + 2:]

    def prompt(self, text: T, indent: int) -> None:
        pad = " " * indent
        folded = max(len(text.en), len(text.es)) > 70 and self.rng.random() < 0.7
        for lang, source in (("en", text.en), ("es", text.es)):
            if folded:
                self.lines.append(f"{pad}{lang}: >-")
                width = max(40, 100 - indent - 2)
                for part in textwrap.wrap(source, width, break_long_words=False, break_on_hyphens=False):
                    self.lines.append(f"{pad}  {part}")
            else:
                self.lines.append(f"{pad}{lang}: {_scalar(source)}")


# -- timing -------------------------------------------------------------------------------

def _median_ms(fn, runs: int, warm_up: bool, gc_off: bool = False, earlier: tuple = ()) -> tuple[float, float]:
    """Median and best of `runs` timed calls (ms), counting `earlier` seconds already measured as some of them."""
    if warm_up:
        fn()
    gc.collect()
    if gc_off:
        gc.disable()
    try:
        times = list(earlier)
        for _ in range(runs - len(times)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    finally:
        if gc_off:
            gc.enable()
    return statistics.median(times) * 1e3, min(times) * 1e3


def bench_loader(runs: int, budget_s: float, warm_each: bool, gc_column: bool, seed: int, log) -> dict:
    rows = []
    kinds_1000 = None
    texts = {n: generate_flow(n, seed) for n in SIZES}
    lint_text(texts[SIZES[0]][0], "<warm-up>")  # imports, regex and lexer caches
    for n in SIZES:
        text, kinds = texts[n]
        gc.collect()
        t0 = time.perf_counter()
        flow, problems = lint_text(text, f"<generated-{n}>")
        first_s = time.perf_counter() - t0
        if problems or flow is None:
            shown = "\n".join(str(p) for p in problems[:10])
            raise SystemExit(f"the generated {n}-node flow does not lint clean ({len(problems)} problems):\n{shown}")
        assert len(flow.nodes) == n, (len(flow.nodes), n)
        del flow
        if n == GOAL_NODES:
            kinds_1000 = dict(kinds)
        n_runs = max(3, min(runs, int(budget_s / max(first_s, 1e-6))))
        lint_ms, best_ms = _median_ms(lambda: lint_text(text, f"<generated-{n}>"), n_runs, warm_each,
                                      earlier=() if warm_each else (first_s,))
        compose_ms, _ = _median_ms(lambda: yaml.compose(text, Loader=LOADER), n_runs, warm_each)
        row = {
            "nodes": n, "yaml_kb": round(len(text.encode("utf-8")) / 1024, 1), "runs": n_runs,
            "lint_ms": round(lint_ms, 2), "lint_ms_best": round(best_ms, 2), "us_per_node": round(lint_ms * 1e3 / n, 1),
            "compose_ms": round(compose_ms, 2), "rest_ms": round(lint_ms - compose_ms, 2),
            "compose_share": round(compose_ms / lint_ms, 3),
        }
        if gc_column:
            row["lint_ms_gc_off"] = round(_median_ms(lambda: lint_text(text, "<gc-off>"), n_runs, False, True)[0], 2)
        rows.append(row)
        log(f"  lint_text {n:>5} nodes: {lint_ms:8.1f} ms (median of {n_runs})")
    by_n = {r["nodes"]: r for r in rows}
    goal_ms = by_n[GOAL_NODES]["lint_ms"]
    out = {
        "sizes": rows,
        "ratio_4000_over_1000": round(by_n[4000]["lint_ms"] / by_n[1000]["lint_ms"], 2),
        "compose_ratio_4000_over_1000": round(by_n[4000]["compose_ms"] / by_n[1000]["compose_ms"], 2),
        "goal": {"nodes": GOAL_NODES, "under_ms": GOAL_MS, "measured_ms": goal_ms, "pass": goal_ms < GOAL_MS},
        "kinds_in_1000": kinds_1000,
    }
    if gc_column:
        out["gc_off_ratio_4000_over_1000"] = round(by_n[4000]["lint_ms_gc_off"] / by_n[1000]["lint_ms_gc_off"], 2)
    return out


# -- where the loader's time goes ---------------------------------------------------------

def timed_breakdown(n: int, seed: int, runs: int) -> dict:
    """lint_text with timers around its big parts (no profiler, so C and Python code compare fairly)."""
    import ivr.flows.loader as loader_module
    import ivr.flows.yaml_reader as yamlnodes_module

    spent: Counter = Counter()
    calls: Counter = Counter()
    parts = [  # (object, attribute, label); each is looked up at call time, so patching it is enough
        (yamlnodes_module.Reader, "compose", "YAML compose (Reader.compose -> yaml.compose, CSafeLoader)"),
        (loader_module, "template_names", "prompt templates: speech.template_names (Jinja parse + names)"),
        (loader_module, "expression_names", "decide conditions: speech.expression_names (Jinja)"),
        (loader_module, "check_graph", "graph checks: flow_checks.check_graph"),
    ]
    originals = []
    for owner, attr, label in parts:
        original = getattr(owner, attr)
        originals.append((owner, attr, original))

        def timed(*args, __original=original, __label=label, **kwargs):
            t0 = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                spent[__label] += time.perf_counter() - t0
                calls[__label] += 1

        setattr(owner, attr, timed)
    text, _ = generate_flow(n, seed)
    try:
        lint_text(text, "<breakdown>")
        spent.clear()
        calls.clear()
        total = 0.0
        for _ in range(runs):
            t0 = time.perf_counter()
            lint_text(text, "<breakdown>")
            total += time.perf_counter() - t0
    finally:
        for owner, attr, original in originals:
            setattr(owner, attr, original)
    rows = [{"part": label, "calls_per_run": calls[label] // runs, "ms_per_run": round(spent[label] * 1e3 / runs, 1),
             "share": round(spent[label] / total, 3)} for _, _, label in parts]
    rest = total - sum(spent.values())
    rows.append({"part": "the rest: reading pass (shapes, dataclasses), sorting, sha256", "calls_per_run": 1,
                 "ms_per_run": round(rest * 1e3 / runs, 1), "share": round(rest / total, 3)})
    return {"nodes": n, "runs": runs, "lint_ms_per_run": round(total * 1e3 / runs, 1), "parts": rows}


JINJA_DETAIL = [  # (label, file suffix, function name): cumulative time under cProfile
    ("jinja2 Environment.parse (lexer + parser)", "jinja2/environment.py", "parse"),
    ("jinja2 Parser.parse_expression (conditions)", "jinja2/parser.py", "parse_expression"),
    ("jinja2 meta.find_undeclared_variables (codegen)", "jinja2/meta.py", "find_undeclared_variables"),
    ("speech._check_names (find_all over the tree)", "ivr/speech.py", "_check_names"),
]


def profile_loader(n: int, seed: int, repeat: int) -> dict:
    text, _ = generate_flow(n, seed)
    lint_text(text, "<profile>")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(repeat):
        lint_text(text, "<profile>")
    prof.disable()
    entries = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}

    def cum(suffix: str, name: str) -> float:
        return sum(v[3] for k, v in entries.items() if k[0].replace("\\", "/").endswith(suffix) and k[2] == name)

    total = cum("ivr/flow_loader.py", "lint_text")
    detail = [{"area": label, "ms_per_run": round(cum(suffix, name) * 1e3 / repeat, 1),
               "share": round(cum(suffix, name) / total, 3) if total else 0.0}
              for label, suffix, name in JINJA_DETAIL]
    top = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    functions = [{"function": f"{Path(k[0]).parent.name}/{Path(k[0]).name}:{k[1]}({k[2]})" if k[0] != "~"
                  else k[2], "calls_per_run": v[1] // repeat, "own_ms_per_run": round(v[2] * 1e3 / repeat, 1),
                  "own_share": round(v[2] / total, 3) if total else 0.0} for k, v in top]
    return {"nodes": n, "runs": repeat, "lint_ms_under_profiler": round(total * 1e3 / repeat, 1),
            "jinja_detail": detail, "top_own_time": functions}


# =====================================================================================
# Part 2: the engine
# =====================================================================================

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=ZoneInfo("America/Los_Angeles"))  # a Wednesday, in hours
KEYS = "0123456789*#"
MAX_TURNS = 60
DIAL_STATUSES_SORTED = sorted(DIAL_STATUSES)


def _caller_event(last, rng: random.Random, turn: int):
    """What a random caller does about the command the turn ended on."""
    if isinstance(last, Gather):
        roll = rng.random()
        if roll < 0.12:
            return NoInput(now=NOW)
        if last.num_digits == 1 or roll < 0.75:
            return Digits(now=NOW, digits=rng.choice(KEYS))
        length = last.num_digits or rng.randint(4, 11)
        return Digits(now=NOW, digits="".join(rng.choice("0123456789") for _ in range(length)))
    if isinstance(last, Dial):
        return DialDone(now=NOW, status=rng.choice(DIAL_STATUSES_SORTED))
    if isinstance(last, Record):
        return RecordingDone(now=NOW, url=f"https://api.twilio.com/Recordings/RE{turn:032d}",
                             duration=rng.randint(1, last.max_length), hung_up=rng.random() < 0.1)
    raise AssertionError(f"a turn ended on {last!r}")


def bench_engine(flow, seconds: float, seed: int, roundtrip: bool) -> dict:
    rng = random.Random(seed)
    perf = time.perf_counter
    steps = calls = json_bytes = 0
    busy = 0.0
    ended = Counter()
    deadline = perf() + seconds
    while perf() < deadline:
        calls += 1
        event = CallStarted(now=NOW, caller="+16265550123", lang=None)
        state = None
        for turn in range(MAX_TURNS):
            t0 = perf()
            state, commands, _ = step(flow, state, event)
            if roundtrip:
                blob = encode_state(state)
                state = decode_state(blob)
            busy += perf() - t0
            steps += 1
            if roundtrip:
                json_bytes += len(blob)
            last = commands[-1]
            if isinstance(last, Hangup):
                ended["hangup"] += 1
                break
            event = _caller_event(last, rng, turn)
        else:
            ended["turn cap"] += 1
    out = {"calls": calls, "steps": steps, "seconds_in_step": round(busy, 3),
           "steps_per_s": round(steps / busy), "steps_per_call": round(steps / calls, 1),
           "us_per_step": round(busy * 1e6 / steps, 1), "calls_ended_by": dict(ended)}
    if roundtrip:
        out["mean_state_json_bytes"] = round(json_bytes / steps, 1)
    return out


def engine_flow(seed: int):
    try:
        return load_flow(SHIPPED_FLOW), str(SHIPPED_FLOW.relative_to(ROOT)), None
    except FlowError as exc:
        why = f"{len(exc.problems)} error(s), first: {exc.problems[0]}"
    except OSError as exc:
        why = str(exc)
    text, _ = generate_flow(GOAL_NODES, seed)
    flow, _ = lint_text(text, f"<generated-{GOAL_NODES}>")
    return flow, f"generated {GOAL_NODES}-node flow", f"{SHIPPED_FLOW.relative_to(ROOT)} does not load: {why}"


# =====================================================================================
# Report
# =====================================================================================

def _table(results: dict) -> str:
    lines = []
    loader = results["loader"]
    gc_col = "lint_ms_gc_off" in loader["sizes"][0]
    lines.append("1. Loading + linting a generated flow: lint_text (YAML compose, validation, graph checks)")
    lines.append(f"  {'nodes':>6} {'YAML KB':>8} {'runs':>5} {'lint ms':>9} {'best ms':>8} {'us/node':>8} "
                 f"{'compose ms':>11} {'rest ms':>9} {'compose':>8}" + (f" {'GC off ms':>10}" if gc_col else ""))
    for r in loader["sizes"]:
        lines.append(f"  {r['nodes']:>6} {r['yaml_kb']:>8} {r['runs']:>5} {r['lint_ms']:>9.1f} "
                     f"{r['lint_ms_best']:>8.1f} "
                     f"{r['us_per_node']:>8.1f} {r['compose_ms']:>11.1f} {r['rest_ms']:>9.1f} "
                     f"{r['compose_share'] * 100:>7.0f}%"
                     + (f" {r['lint_ms_gc_off']:>10.1f}" if gc_col else ""))
    goal = loader["goal"]
    ratio = f"  time(4000)/time(1000) = {loader['ratio_4000_over_1000']:.2f} (4.00 would be linear); " \
            f"compose alone {loader['compose_ratio_4000_over_1000']:.2f}"
    if gc_col:
        ratio += f"; with GC off {loader['gc_off_ratio_4000_over_1000']:.2f}"
    lines.append(ratio)
    lines.append(f"  goal: {goal['nodes']} nodes under {goal['under_ms']:.0f} ms -> median "
                 f"{goal['measured_ms']:.1f} ms: {'PASS' if goal['pass'] else 'FAIL'}")
    lines.append("  (lint ms: median; best ms: fastest run, the figure least disturbed by other load on the machine)")
    kinds = loader["kinds_in_1000"]
    total = sum(kinds.values())
    mix = ", ".join(f"{k} {v * 100 / total:.0f}%" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
    lines.append(f"  node mix at 1000: {mix}")
    if "breakdown" in results:
        bd = results["breakdown"]
        lines.append("")
        lines.append(f"  Where lint_text's time goes at {bd['nodes']} nodes (timers around the parts, "
                     f"{bd['runs']} runs, {bd['lint_ms_per_run']} ms/run):")
        for row in bd["parts"]:
            lines.append(f"    {row['part']:<66} {row['ms_per_run']:>7.1f} ms {row['share'] * 100:>5.1f}%"
                         f" {row['calls_per_run']:>6} calls")
    if "profile" in results:
        prof = results["profile"]
        lines.append(f"  cProfile, {prof['runs']} runs ({prof['lint_ms_under_profiler']} ms/run under the profiler, "
                     "which inflates Python-heavy code):")
        for a in prof["jinja_detail"]:
            lines.append(f"    {a['area']:<66} {a['ms_per_run']:>7.1f} ms {a['share'] * 100:>5.1f}%")
        lines.append("    top own time:")
        for f in prof["top_own_time"][:10]:
            lines.append(f"    {f['own_share'] * 100:>5.1f}% {f['own_ms_per_run']:>7.1f} ms "
                         f"{f['calls_per_run']:>7} calls  {f['function']}")
    engine = results["engine"]
    lines.append("")
    lines.append(f"2. Engine steps on {engine['flow']} ({engine['nodes']} nodes)")
    if engine.get("fallback_reason"):
        lines.append(f"  ({engine['fallback_reason']})")
    lines.append(f"  {'':<32} {'steps/s':>9} {'us/step':>8} {'steps':>8} {'calls':>7} {'steps/call':>10}")
    for label, key in (("step()", "step"), ("step() + JSON state round trip", "step_json")):
        e = engine[key]
        lines.append(f"  {label:<32} {e['steps_per_s']:>9,} {e['us_per_step']:>8.1f} {e['steps']:>8,} "
                     f"{e['calls']:>7,} {e['steps_per_call']:>10}")
    lines.append(f"  mean state JSON: {engine['step_json']['mean_state_json_bytes']} bytes "
                 "(CallState.to_dict, compact json.dumps, UTF-8)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flows", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and shorter engine phases")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--profile", action="store_true", help="profile lint_text even when it meets the goal")
    parser.add_argument("--seed", type=int, default=7, help="seed for the generated flows and the random calls")
    args = parser.parse_args(argv)

    if args.quick:
        runs, budget, warm_each, gc_column, engine_seconds, profile_runs = 3, 0.5, False, False, 0.5, 1
    else:
        runs, budget, warm_each, gc_column, engine_seconds, profile_runs = 9, 4.0, True, True, 3.0, 3
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if not args.json else (lambda msg: None)
    started = time.perf_counter()
    results: dict = {
        "python": platform.python_version(), "pyyaml": yaml.__version__,
        "yaml_loader": LOADER.__name__ if LOADER else "none (no libyaml)", "mode": "quick" if args.quick else "full",
    }
    log("part 1: loading and linting generated flows")
    results["loader"] = bench_loader(runs, budget, warm_each, gc_column, args.seed, log)
    if args.profile or not results["loader"]["goal"]["pass"]:
        log("  timing the parts of lint_text, then profiling it")
        results["breakdown"] = timed_breakdown(GOAL_NODES, args.seed, profile_runs + 2)
        results["profile"] = profile_loader(GOAL_NODES, args.seed, profile_runs)
    log("part 2: engine steps")
    flow, name, why = engine_flow(args.seed)
    results["engine"] = {"flow": name, "fallback_reason": why, "nodes": len(flow.nodes),
                         "step": bench_engine(flow, engine_seconds, args.seed, roundtrip=False),
                         "step_json": bench_engine(flow, engine_seconds, args.seed, roundtrip=True)}
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        print(_table(results))
        print(f"\n({results['mode']} run, {results['wall_seconds']} s; Python {results['python']}, "
              f"PyYAML {results['pyyaml']} with {results['yaml_loader']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The phrases the engine says on its own, in every language it knows.

A flow may override any of them under `settings.messages`. `{value}` in
`readback` is the caller's entry spoken back; in `team_opens`, when a closed team
opens again ("tomorrow at 8 AM"); in `team_hours`, its weekly hours. None promises a
person the engine may not reach.
"""

from __future__ import annotations

BUILT_IN: dict[str, dict[str, str]] = {
    "reprompt": {
        "en": "Sorry, that is not one of the choices.",
        "es": "Perdón, esa no es una de las opciones.",
    },
    "no_input": {
        "en": "Sorry, I didn't hear anything. Take your time.",
        "es": "Perdón, no recibí ninguna respuesta. Tómese su tiempo.",
    },
    "invalid_entry": {
        "en": "Sorry, that entry doesn't look right.",
        "es": "Perdón, esa respuesta no parece correcta.",
    },
    "time_warning": {
        "en": "Take your time. To hear the question again and have more time, press star. For a person, press 0.",
        "es": "Tómese su tiempo. Para escuchar la pregunta otra vez y tener más tiempo, oprima la tecla de asterisco. "
              "Para hablar con una persona, oprima 0.",
    },
    "invalid_date": {
        "en": "That date doesn't look right. Please enter 4 numbers: 2 for the month, then 2 for the day.",
        "es": "Esa fecha no parece correcta. Marque 4 números: primero 2 del mes y luego 2 del día.",
    },
    "invalid_dob": {
        "en": "That date of birth doesn't look right. Please enter 8 numbers: 2 for the month, 2 for the day, "
              "then 4 for the year.",
        "es": "Esa fecha de nacimiento no parece correcta. Marque 8 números: primero 2 del mes, luego 2 del día "
              "y luego 4 del año.",
    },
    "invalid_time": {
        "en": "That time doesn't look right. Please enter 3 or 4 numbers. For example, for 9:30, press 9 3 0.",
        "es": "Esa hora no parece correcta. Marque 3 o 4 números. Por ejemplo, para las 9:30, marque 9 3 0.",
    },
    "invalid_zip": {
        "en": "That ZIP code doesn't look right. A ZIP code has 5 numbers.",
        "es": "Ese código postal no parece correcto. Un código postal tiene 5 números.",
    },
    "not_california": {
        "en": "That ZIP code is not in California. We can only pick up members in California.",
        "es": "Ese código postal no es de California. Solo podemos recoger a los miembros en California.",
    },
    "invalid_member_id": {
        "en": "That ID doesn't look right. A member ID has 8 to 14 numbers.",
        "es": "Ese número no parece correcto. El número de miembro tiene de 8 a 14 números.",
    },
    "invalid_phone": {
        "en": "That phone number doesn't look right. Please enter all 10 numbers, starting with the area code.",
        "es": "Ese número de teléfono no parece correcto. Marque los 10 números, empezando con el código de área.",
    },
    "yesno_hint": {
        "en": "For yes, press 1. For no, press 2.",
        "es": "Si la respuesta es sí, oprima 1. Si es no, oprima 2.",
    },
    "readback": {
        "en": "You entered {value}. If that is right, press 1. To try again, press 2.",
        "es": "Usted marcó {value}. Si es correcto, oprima 1. Para intentarlo de nuevo, oprima 2.",
    },
    "section_next": {
        "en": "To hear this part again, press 1. For the next part, press 2.",
        "es": "Para escuchar esta parte otra vez, oprima 1. Para la siguiente parte, oprima 2.",
    },
    "section_last": {
        "en": "To hear this part again, press 1. To go on, press 2.",
        "es": "Para escuchar esta parte otra vez, oprima 1. Para continuar, oprima 2.",
    },
    "too_many_tries": {
        "en": "Sorry, I couldn't get an answer I can use.",
        "es": "Perdón, no recibí una respuesta que pueda usar.",
    },
    "apology": {
        "en": "We're sorry, something went wrong on our side.",
        "es": "Lo sentimos, tuvimos un problema.",
    },
    "call_back_later": {
        "en": "Please call us again in a few minutes. If this is an emergency, hang up and dial 911. Goodbye.",
        "es": "Por favor, vuelva a llamarnos en unos minutos. Si es una emergencia, cuelgue y marque el 911. Adiós.",
    },
    "apology_no_person": {
        "en": "We're sorry, something went wrong on our side. Please call again in a few minutes. "
              "If this is an emergency, hang up and dial 911.",
        "es": "Lo sentimos, tuvimos un problema. Por favor llame de nuevo en unos minutos. "
              "Si es una emergencia, cuelgue y marque el 911.",
    },
    "no_one_available": {
        "en": "Sorry, no one can take your call now. Please call us again later. "
              "If this is an emergency, hang up and dial 911. Goodbye.",
        "es": "Lo sentimos, en este momento no hay nadie disponible para atenderle. Por favor, llame más tarde. "
              "Si es una emergencia, cuelgue y marque el 911. Adiós.",
    },
    "team_closed": {
        "en": "Our team is closed now.",
        "es": "Nuestro equipo está cerrado en este momento.",
    },
    "team_hours": {
        "en": "We are open {value}.",
        "es": "Nuestro horario es {value}.",
    },
    "team_opens": {
        "en": "We open again {value}.",
        "es": "Volvemos a abrir {value}.",
    },
    "still_trying": {
        "en": "Please stay on the line while I try someone else.",
        "es": "Por favor, no cuelgue. Estoy intentando comunicarle con otra persona.",
    },
    "whisper_intro": {
        "en": "Support line call. The caller speaks {value}.",
        "es": "Llamada de la línea de apoyo. La persona habla {value}.",
    },
    "whisper_no_language": {
        "en": "Support line call. The caller has not chosen English or Spanish.",
        "es": "Llamada de la línea de apoyo. La persona no eligió inglés ni español.",
    },
    "whisper_details": {
        "en": "You will hear the caller's answers after you accept.",
        "es": "Escuchará las respuestas de la persona después de aceptar.",
    },
    "whisper_accept": {
        "en": "To take the call, press 1. To decline, hang up.",
        "es": "Para tomar la llamada, oprima 1. Para rechazarla, cuelgue.",
    },
    "goodbye": {
        "en": "Thank you for calling. Goodbye.",
        "es": "Gracias por llamar. Adiós.",
    },
}

NAMES = frozenset(BUILT_IN)

# Said by the service, not a flow, after the apology when it puts the caller through to its fallback number.
CONNECTING = {
    "en": "Let me connect you with someone who can help.",
    "es": "Le comunico con alguien que le puede ayudar.",
}

# A language's name, said in another: LANGUAGE_NAMES[listener][language].
LANGUAGE_NAMES = {
    "en": {"en": "English", "es": "Spanish"},
    "es": {"en": "inglés", "es": "español"},
}

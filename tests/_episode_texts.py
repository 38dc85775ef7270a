"""Three topics of eight chat messages each, for the episode tests: a drift segmenter should cut
the stream where the topic changes."""

from __future__ import annotations

TOPICS = {
    "cooking": [
        "I baked sourdough bread this morning with a new starter.",
        "Did the crust come out crispy after baking it in the dutch oven?",
        "Yes, I preheated the oven to 250 degrees and added steam.",
        "Next time try a longer cold proof of the dough in the fridge.",
        "I also want to make pizza dough with the same flour.",
        "Neapolitan pizza needs a very hot oven and a thin crust.",
        "My tomato sauce recipe uses garlic, basil and olive oil.",
        "Fresh mozzarella and basil on top makes a great margherita pizza.",
    ],
    "space": [
        "The James Webb telescope captured a new image of a distant galaxy.",
        "Its infrared camera can see stars forming inside dust clouds.",
        "How far away is that galaxy from our Milky Way?",
        "About thirteen billion light years, light from the early universe.",
        "Black holes at the centre of galaxies grow by swallowing gas.",
        "Astronomers measure the expansion of the universe with supernovae.",
        "I watched Jupiter and its moons through my backyard telescope.",
        "Saturn's rings were visible too on that clear night sky.",
    ],
    "football": [
        "Our football team won the match three goals to one on Saturday.",
        "The striker scored twice and the goalkeeper saved a penalty.",
        "The coach changed the formation at half time of the game.",
        "Fans in the stadium sang for the whole second half.",
        "Next week they play the league leaders away from home.",
        "The midfielder got a yellow card for a late tackle.",
        "If they win they move up to second place in the league table.",
        "The transfer window opens soon and the club needs a defender.",
    ],
}


def stream_texts() -> list[str]:
    return TOPICS["cooking"] + TOPICS["space"] + TOPICS["football"]

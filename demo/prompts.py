# Prompt strings in code are found too: each literal that offers both answers is scored.

PROMPTS = [
    "Is 41 less than 19 ? Answer Yes or No .",
    "Is 88 less than 94 ? Say Yes / No ?",
    'Is ticket 22 of draw 3 a winner ? Yes or No ?',
]

QUESTION = "Is 7 even ?"  # no answers offered: not a yes/no prompt

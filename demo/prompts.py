# Prompt strings in code are found too: each literal that names both answers is scored.

PROMPTS = [
    "The movie was nice . Did you like it ? Answer Yes or No .",
    'That concert was dull . Would you recommend it ? Yes or No ?',
]

GREETING = "The weather is nice today ."  # no candidates: not a yes/no prompt

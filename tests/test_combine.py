"""How the rules' reading and the classifier's become one intent (crmbot.intents.parse.combine)."""

from crmbot.intents.classifier import Reading
from crmbot.intents.parse import RULES_ALONE_LEAD, RULES_LEAD, combine

SURE_CALL = Reading((("log_call", 0.9), ("find_customer", 0.1)))


def test_an_intent_the_classifier_was_never_taught_stands_on_a_clear_rules_lead():
    assert combine("tag", (), RULES_ALONE_LEAD, SURE_CALL) == ("tag", ())


def test_a_new_intent_tied_with_another_or_barely_ahead_is_not_taken_on_the_rules_alone():
    assert combine("tag", ("log_call",), RULES_ALONE_LEAD, SURE_CALL)[0] != "tag"
    assert combine("tag", (), RULES_ALONE_LEAD - 0.5, SURE_CALL)[0] != "tag"


def test_a_taught_intent_the_classifier_doubts_is_not_taken_on_the_rules_alone():
    assert combine("find_customer", (), RULES_ALONE_LEAD, SURE_CALL) == ("log_call", ())


def test_a_whole_command_phrase_stands_against_a_sure_model_that_does_not_rule_it_out():
    # "new customer Petr Dvorak from …": the model, knowing Petr's name from logged calls, reads a call
    heard = Reading((("log_call", 0.70), ("add_customer", 0.27), ("find_customer", 0.01)))
    assert combine("add_customer", (), RULES_LEAD, heard) == ("add_customer", ())
    ruled_out = Reading((("log_call", 0.97), ("add_customer", 0.02)))
    assert combine("add_customer", (), RULES_LEAD, ruled_out) == ("log_call", ())


def test_no_intent_word_and_nothing_to_do_a_likely_reading_is_not_asked_about():
    # "12345": the classifier leans to a new deal, but "nothing to do" is nearly as likely
    leaning = Reading((("new_deal", 0.55), ("unknown", 0.41), ("remind", 0.03)))
    assert combine("unknown", (), 0.0, leaning) == ("unknown", ())
    # with "nothing to do" unlikely, the leaning reading is asked about, never done
    doubtful = Reading((("new_deal", 0.45), ("remind", 0.40), ("unknown", 0.05)))
    assert combine("unknown", (), 0.0, doubtful) == ("new_deal", ("remind", "cancel"))

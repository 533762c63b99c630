import pytest

from digest.errors import InvalidInput
from digest.links import TokenSigner, read_token, unsubscribe_url


def test_a_token_names_its_list_and_reader(settings):
    url = unsubscribe_url(settings, "weekly", "alice@example.com")
    assert url.startswith("https://digest.example/u/")
    assert read_token(settings, url.rsplit("/", 1)[1]) == ("weekly", "alice@example.com")


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-2],                                     # cut short
    lambda t: t.replace(t[0], "A" if t[0] != "A" else "B", 1),  # another reader
    lambda t: t.split(".")[0],                            # no tag
    lambda t: "not a token",
])
def test_an_altered_token_is_refused(settings, tamper):
    token = TokenSigner(settings).sign("weekly", "alice@example.com")
    with pytest.raises(InvalidInput, match="not valid"):
        read_token(settings, tamper(token))


def test_tokens_are_bound_to_the_secret_and_purpose(settings):
    token = TokenSigner(settings).sign("weekly", "alice@example.com")
    other = settings.model_copy(update={"secret_key": type(settings.secret_key)("another")})
    with pytest.raises(InvalidInput):
        read_token(other, token)
    with pytest.raises(InvalidInput):
        TokenSigner(settings, purpose="confirm").read(token)

import pytest

from digest.errors import InvalidInput
from digest.links import TokenSigner, list_unsubscribe, read_token


def test_a_token_names_its_list_and_reader(settings):
    token = TokenSigner(settings).sign("weekly", "alice@example.com")
    assert read_token(settings, token) == ("weekly", "alice@example.com")
    header = list_unsubscribe(settings.base_url, "planet.example", token, "weekly")
    assert header == (f"<https://digest.example/u/{token}>, "
                      f"<mailto:unsubscribe+weekly@planet.example?subject=unsubscribe%20{token}>")


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
    other = settings.model_copy(update={"secret_key": type(settings.secret_key)("another-secret-of-enough-length")})
    with pytest.raises(InvalidInput):
        read_token(other, token)
    with pytest.raises(InvalidInput):
        TokenSigner(settings, purpose="confirm").read(token)

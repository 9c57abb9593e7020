"""X's two vocabularies for the same endpoints: the classic names of spec v2.159 (tweepy,
docs.x.com and the recordings: `tweet.fields`, `referenced_tweets.id`, `edit_history_tweet_ids`)
and the renamed ones of spec v2.167, which X's own SDK `xdk` sends (`post.fields`,
`referenced_posts`, `edit_history_post_ids`, problems typed `https://api.x.com/2/problems/...`).

The sandbox works in the classic names: a v2.167 request's names are translated to them on the
way in (`canonical`) and the answer's keys back on the way out (`wire`). A request speaks
v2.167 when it names `post.fields` or an expansion only v2.167 has, the classic vocabulary when it
names `tweet.fields` or an expansion only that has, and the sandbox's default otherwise (a
request that mixes both is answered in v2.167, whose parser then refuses the classic names
with X's 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# The specs' enums, word for word: X validates names against its whole vocabulary, so names it
# knows but the sandbox does not model are accepted and left out (as X leaves out fields a post
# has no value for). tests/db/platform/test_conformance.py checks them against the documents.
# fmt: off
_CLASSIC_TWEET_FIELDS = frozenset((
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
    "conversation_id", "created_at", "display_text_range", "edit_controls",
    "edit_history_tweet_ids", "entities", "geo", "id", "in_reply_to_user_id", "lang",
    "media_metadata", "non_public_metrics", "note_tweet", "organic_metrics",
    "possibly_sensitive", "promoted_metrics", "public_metrics", "referenced_tweets",
    "reply_settings", "scopes", "source", "suggested_source_links",
    "suggested_source_links_with_counts", "text", "withheld",
))
_CLASSIC_USER_FIELDS = frozenset((
    "affiliation", "confirmed_email", "connection_status", "created_at", "description",
    "entities", "id", "is_identity_verified", "location", "most_recent_tweet_id", "name",
    "parody", "pinned_tweet_id", "profile_banner_url", "profile_image_url", "protected",
    "public_metrics", "receives_your_dm", "subscription", "subscription_type", "url",
    "username", "verified", "verified_followers_count", "verified_type", "withheld",
))
_CLASSIC_TWEET_EXPANSIONS = frozenset((
    "article.cover_media", "article.media_entities", "attachments.media_keys",
    "attachments.media_source_tweet", "attachments.poll_ids", "author_id",
    "edit_history_tweet_ids", "entities.mentions.username", "entities.note.mentions.username",
    "geo.place_id", "in_reply_to_user_id", "referenced_tweets.id",
    "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id",
))
_CLASSIC_USER_EXPANSIONS = frozenset((
    "affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id",
))
_POST_FIELDS = frozenset((
    "article", "article_title", "attachments", "card_uri", "community_id",
    "context_annotations", "conversation_id", "created_at", "display_text_range",
    "edit_controls", "entities", "geo", "id", "lang", "matched_media_notes", "media_metadata",
    "non_public_metrics", "note_post", "note_request_suggestions", "organic_metrics",
    "paid_partnership", "possibly_sensitive", "promoted_metrics", "public_metrics",
    "reply_settings", "scopes", "source", "suggested_source_links",
    "suggested_source_links_with_counts", "text", "withheld",
))
_POSTS_USER_FIELDS = frozenset((
    "confirmed_email", "connection_status", "created_at", "description", "entities", "id",
    "is_identity_verified", "location", "name", "parody", "profile_banner_url",
    "profile_image_url", "protected", "public_metrics", "receives_your_dm", "subscribes_to_you",
    "subscription", "subscription_type", "url", "username", "verified",
    "verified_followers_count", "verified_type", "withheld",
))
_POST_EXPANSIONS = frozenset((
    "article.cover_media", "article.media_entities", "attachments.media_keys",
    "attachments.media_source_tweet", "attachments.poll_ids", "author_id",
    "edit_history_post_ids", "entities.mentions.username", "geo.place_id",
    "in_reply_to_user_id", "referenced_posts", "username",
))
_POSTS_USER_EXPANSIONS = frozenset(("affiliation", "most_recent_post_id", "pinned_post_id"))
# fmt: on


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """The names one spec version uses on the wire, and its problem types."""

    spec: str
    tweet_fields: frozenset[str]
    user_fields: frozenset[str]
    tweet_expansions: frozenset[str]
    user_expansions: frozenset[str]
    problem_types: str
    # v2.167 has no generic (about:blank) problem: every problem carries one of its types.
    typed_problems: bool = False
    # The sandbox's (classic) name -> this vocabulary's: query parameters, body keys, includes.
    names: Mapping[str, str] = field(default_factory=dict)
    # The same for expansions (`referenced_tweets.id` is an expansion, `referenced_tweets` a key).
    expansion_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def fields_param(self) -> str:
        """The query parameter that lists a post's fields."""
        return self.wire("tweet.fields")

    @property
    def expansions(self) -> frozenset[str]:
        """Every expansion this vocabulary knows (posts' and users')."""
        return self.tweet_expansions | self.user_expansions

    def wire(self, name: str) -> str:
        """This vocabulary's name for a query parameter, field, key or includes section."""
        return self.names.get(name, name)

    def wire_expansion(self, name: str) -> str:
        """This vocabulary's name for an expansion (also the `parameter` of its errors)."""
        return self.expansion_names.get(name, name)

    def canonical(self, names: frozenset[str], *, expansions: bool = False) -> frozenset[str]:
        """The sandbox's names for names given in this vocabulary."""
        renames = self.expansion_names if expansions else self.names
        back = {wire: name for name, wire in renames.items()}
        return frozenset(back.get(n, n) for n in names)


CLASSIC = Vocabulary(
    spec="v2.159",
    tweet_fields=_CLASSIC_TWEET_FIELDS,
    user_fields=_CLASSIC_USER_FIELDS,
    tweet_expansions=_CLASSIC_TWEET_EXPANSIONS,
    user_expansions=_CLASSIC_USER_EXPANSIONS,
    problem_types="https://api.twitter.com/2/problems/",
)
POSTS = Vocabulary(
    spec="v2.167",
    tweet_fields=_POST_FIELDS,
    user_fields=_POSTS_USER_FIELDS,
    tweet_expansions=_POST_EXPANSIONS,
    user_expansions=_POSTS_USER_EXPANSIONS,
    problem_types="https://api.x.com/2/problems/",
    typed_problems=True,
    names={
        "tweet.fields": "post.fields",
        "edit_history_tweet_ids": "edit_history_post_ids",
        "note_tweet": "note_post",
        "referenced_tweets": "referenced_posts",
        "tweets": "posts",
    },
    expansion_names={
        "edit_history_tweet_ids": "edit_history_post_ids",
        "referenced_tweets.id": "referenced_posts",
        "affiliation.user_id": "affiliation",
        "most_recent_tweet_id": "most_recent_post_id",
        "pinned_tweet_id": "pinned_post_id",
    },
)
VOCABULARIES: Mapping[str, Vocabulary] = {v.spec: v for v in (CLASSIC, POSTS)}


def spoken(query: Mapping[str, str], default: Vocabulary) -> Vocabulary:
    """The vocabulary a request's query speaks (`default` when it names nothing either lacks)."""
    asked = frozenset(query.get("expansions", "").split(","))
    for vocabulary, other in ((POSTS, CLASSIC), (CLASSIC, POSTS)):
        own = vocabulary.expansions - other.expansions
        if vocabulary.fields_param in query or asked & own:
            return vocabulary
    return default


def vocabulary_named(spec: str) -> Vocabulary:
    """The vocabulary of a spec version ("v2.159" or "v2.167"); ValueError names the known ones."""
    try:
        return VOCABULARIES[spec]
    except KeyError:
        known = ", ".join(VOCABULARIES)
        raise ValueError(f"unknown X API spec version {spec!r} (known: {known})") from None

"""Delete every user but the kept ones, the way an administrator would script it with
Microsoft's official Graph SDK for Python (msgraph-sdk).

    python bench/sdk_delete.py --url http://127.0.0.1:PORT --keep admin@contoso.com [--concurrency 10]

The script is deliberately plain SDK usage:

* the client is the SDK's own `GraphRequestAdapter` with its default middleware (the
  RetryHandler retries 429/503/504 and honours `Retry-After`, up to 3 retries), its base
  URL pointed at the simulator (`request_adapter.base_url = URL + "/v1.0"`);
* authentication is a static bearer token through the SDK's
  `BaseBearerTokenAuthenticationProvider`, whose `AllowedHostsValidator` is told the
  simulator's host (azure-identity's provider would insist on https);
* users are listed with `$select=id,userPrincipalName&$top=999` and the SDK's
  `PageIterator`, then deleted with `DELETE /users/{id}` (a soft delete, as Graph's
  user-delete page documents), one at a time or with `--concurrency N` asyncio workers;
* a deletion the SDK gives up on (its retries exhausted) is counted as a failure, and the
  script lists the users again and deletes what is left, as an administrator re-runs a
  script that reported failures, for at most `--max-passes` passes.

Prints one JSON object on stdout: passes, deletions attempted and done, failures by HTTP
status, users listed per pass, and the seconds spent importing the SDK (not in the timing of
the work).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from urllib.parse import urlparse

IMPORT_STARTED = time.monotonic()
from kiota_abstractions.api_error import APIError  # noqa: E402
from kiota_abstractions.authentication import (  # noqa: E402
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: E402
from msgraph import GraphRequestAdapter, GraphServiceClient  # noqa: E402
from msgraph.generated.users.users_request_builder import UsersRequestBuilder  # noqa: E402
from msgraph_core.tasks.page_iterator import PageIterator  # noqa: E402

IMPORT_SECONDS = time.monotonic() - IMPORT_STARTED


class StaticToken(AccessTokenProvider):
    """A fixed bearer token, valid only for the simulator's host."""

    def __init__(self, token: str, host: str) -> None:
        self._token = token
        self._hosts = AllowedHostsValidator([host])

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return self._token if self._hosts.is_url_host_valid(uri) else ""

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._hosts


def make_client(url: str, token: str) -> tuple[GraphServiceClient, GraphRequestAdapter]:
    host = urlparse(url).hostname or "127.0.0.1"
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token, host)))
    adapter.base_url = url.rstrip("/") + "/v1.0"
    return GraphServiceClient(request_adapter=adapter), adapter


async def list_users(client: GraphServiceClient, adapter: GraphRequestAdapter) -> list[tuple[str, str]]:
    """Every user as (id, userPrincipalName), following @odata.nextLink with PageIterator."""
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        select=["id", "userPrincipalName"], top=999
    )
    first = await client.users.get(request_configuration=RequestConfiguration(query_parameters=query))
    users: list[tuple[str, str]] = []

    def collect(user) -> bool:
        users.append((user.id, user.user_principal_name or ""))
        return True

    iterator = PageIterator(first, adapter)
    await iterator.iterate(collect)
    return users


async def delete_all(client: GraphServiceClient, ids: list[str], concurrency: int, failures: Counter) -> int:
    """Deletes `ids`; returns how many Graph accepted. Failures are counted by status."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in ids:
        queue.put_nowait(i)
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            try:
                user_id = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                await client.users.by_user_id(user_id).delete()
                done += 1
            except APIError as e:
                failures[str(e.response_status_code)] += 1
            except Exception as e:  # transport errors: the script logs and goes on
                failures[type(e).__name__] += 1

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return done


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="Graph service root, e.g. http://127.0.0.1:8765")
    p.add_argument("--keep", action="append", required=True, help="userPrincipalName to keep")
    p.add_argument("--concurrency", type=int, default=1, help="deletions in flight at once")
    p.add_argument("--max-passes", type=int, default=5)
    p.add_argument("--token", default="benchmark-token")
    args = p.parse_args()

    client, adapter = make_client(args.url, args.token)
    keep = {k.lower() for k in args.keep}
    failures: Counter = Counter()
    listed: list[int] = []
    attempted = deleted = 0
    started = time.monotonic()
    passes = 0
    while passes < args.max_passes:
        users = await list_users(client, adapter)
        listed.append(len(users))
        targets = [uid for uid, upn in users if upn.lower() not in keep]
        if not targets:
            break
        passes += 1
        attempted += len(targets)
        deleted += await delete_all(client, targets, args.concurrency, failures)
    print(
        json.dumps(
            {
                "passes": passes,
                "attempted": attempted,
                "deleted": deleted,
                "failures": sum(failures.values()),
                "failures_by_status": dict(failures),
                "listed_per_pass": listed,
                "work_seconds": round(time.monotonic() - started, 3),
                "import_seconds": round(IMPORT_SECONDS, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

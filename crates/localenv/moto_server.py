"""moto's server, with one race of its SQS closed.

moto 5.2.5's ``Queue.delete_message`` rebuilds the queue's message list without a lock. Two
DeleteMessageBatch calls at once can then each write back a list that still holds the other
call's message: a deleted message comes back, invisible until its visibility timeout, although
both calls answered success. Real SQS has no such race. It showed as a rare failure of the
collector's shutdown test (a message left invisible that the collector had deleted), and
reproduces with ten DeleteMessageBatch calls at once on a queue of a few thousand messages.

This wrapper takes the queue's own lock (the one ``add_message`` already holds) around the
rebuild, then runs ``moto_server`` with the same arguments.

Run: ``.tools/venv/bin/python crates/localenv/moto_server.py -H 127.0.0.1 -p PORT``
"""

import sys

from moto.server import main
from moto.sqs.models import Queue

_unlocked_delete_message = Queue.delete_message


def _delete_message(self, receipt_handle):
    with self._messages_lock:
        return _unlocked_delete_message(self, receipt_handle)


Queue.delete_message = _delete_message

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())

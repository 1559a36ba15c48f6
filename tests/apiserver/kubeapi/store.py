"""Versioned object storage with a watchable, compactable history.

Guarantees: one global resourceVersion counter, incremented by exactly one for
every write; each write appends one event (ADDED/MODIFIED/DELETED with the new
and the previous object) to the history, so a watch can resume from any
resourceVersion not yet compacted and a list can be served as of any such
version (used for consistent continue tokens). Objects are stored in their
storage form; callers must hold `lock` across read-modify-write sequences.

Stored objects are never modified in place: a write stores a new object (which may share
unchanged parts with the previous one), so what get(), items() and commit() return, and the
history's events, can be read without copying but must not be changed: copy (clone()) first.
"""
import copy
import dataclasses
import marshal
import threading

MAX_HISTORY = 20000


@dataclasses.dataclass
class Event:
    rv: int
    type: str
    storage: str
    obj: dict
    prev: dict


class Store:
    def __init__(self):
        self.lock = threading.Condition(threading.RLock())
        self.rv = 1
        self.compacted_rv = 1        # events with rv <= compacted_rv are gone
        self._objects = {}           # storage -> {(namespace, name): obj}
        self._history = []           # events with rv compacted_rv+1 .. rv
        self.watch_epoch = 0         # bumped to end every open watch

    def get(self, storage, key):
        return self._objects.get(storage, {}).get(key)

    def items(self, storage):
        return self._objects.get(storage, {})

    def snapshot(self, storage, rv):
        """The objects of `storage` as of resourceVersion rv (rv >= compacted_rv)."""
        objects = dict(self._objects.get(storage, {}))
        for event in reversed(self.events_after(rv)):
            if event.storage != storage:
                continue
            key = key_of(event.obj)
            if event.prev is None:
                objects.pop(key, None)
            else:
                objects[key] = event.prev
        return objects

    def commit(self, storage, event_type, obj, prev):
        """Stores (or, for DELETED, removes) obj at the next resourceVersion and returns the
        stored object (read-only). The caller hands obj over: it must not change it later."""
        self.rv += 1
        obj = dict(obj, metadata=dict(obj["metadata"], resourceVersion=str(self.rv)))
        bucket = self._objects.setdefault(storage, {})
        if event_type == "DELETED":
            bucket.pop(key_of(obj), None)
        else:
            bucket[key_of(obj)] = obj
        self._history.append(Event(self.rv, event_type, storage, obj, prev))
        if len(self._history) > MAX_HISTORY:
            self.compact(self.rv - MAX_HISTORY // 2)
        self.lock.notify_all()
        return obj

    def events_after(self, rv):
        return self._history[max(0, rv - self.compacted_rv):]

    def compact(self, upto=None):
        """Forgets history up to `upto` (default: everything), like etcd compaction."""
        upto = self.rv if upto is None else min(upto, self.rv)
        if upto > self.compacted_rv:
            del self._history[:upto - self.compacted_rv]
            self.compacted_rv = upto

    def drop_watches(self):
        self.watch_epoch += 1
        self.lock.notify_all()


def clone(value):
    """A deep copy of a JSON value; several times faster than copy.deepcopy."""
    try:
        return marshal.loads(marshal.dumps(value))
    except ValueError:   # not plain data after all
        return copy.deepcopy(value)


def key_of(obj):
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]

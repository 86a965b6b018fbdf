"""Cheaper walks over moto DynamoDB's update-expression trees (same walks, same order, same results).

The JITR machine's ``UpdateItem`` sets eight attributes under a condition. moto 5.2.5 validates that
expression with ten ``DepthFirstTraverser`` passes (twice for a new item), and each visit of each node
asks ``isinstance`` against ABC classes (``Node`` has ``ABCMeta``) and rebuilds the processor's
``_processing_map()`` dict and type tuple; ``Node.find_clauses`` does the same per child. Profiled, that
is ~14 % of a device's CPU in the local cloud.

``install()`` replaces ``DepthFirstTraverser.traverse_node_recursively`` and ``Node.find_clauses``
with versions that visit exactly the same nodes in the same order and call the same processors and
hooks, but answer the ``isinstance`` questions from per-class caches (moto registers no virtual
subclasses, so a class's answer never changes). It also parses each update-expression text once
(``UpdateExpressionParser.make``; moto parses it twice per call): the parsed tree is only read
(``find_clauses``) or deep-copied by the validators before they change anything, and a text that does
not parse raises as before and is not cached. Each validator deep-copies the parsed tree before it
changes it; the copy is made by a structural clone that does what ``copy.deepcopy`` does for these
plain node objects (new instance, every ``__dict__`` value copied, shared references and the parent
links kept through the same memo) and hands anything else (``DynamoType`` values, ...) to
``copy.deepcopy`` itself.

The first three of the ten validator passes are structural checks (``ActionCountValidator``: at most
one SET/ADD/REMOVE clause; ``OverlappingPathsValidator``: no path written twice;
``UpdateHashRangeKeyValidator``: no key attribute written). Each raises or returns every node
unchanged, and reads nothing but the parsed tree, the attribute names and the table's key names;
``ActionCountValidator`` and ``OverlappingPathsValidator`` run on every sub-expression and re-collect
its clauses each time (quadratic in the expression). Once such a check has passed for
(expression text, attribute names, key names), it passes again: ``install()`` remembers passes (never
failures) and skips those checks, but only while they lead the validator's list, i.e. while the tree
they would see is the freshly copied parse of that text. ``uninstall()`` restores moto.
"""

from __future__ import annotations

import copy
from typing import Any

from localcloud.patching import Patch

PATCH = Patch("ddb_expressions", kind="speed-up")
_ORIGINAL: dict[str, Any] = {}  # moto's make / Validator.__init__, while installed
_PARSED: dict[str, Any] = {}
_TEXT_OF: dict[int, str] = {}  # id(parsed tree in _PARSED) -> its text
_PASSED: set[tuple[Any, ...]] = set()  # (check class, text, names, key names) that passed
_STRUCTURAL_NAMES = ("ActionCountValidator", "OverlappingPathsValidator", "UpdateHashRangeKeyValidator")
_PARSED_LIMIT = 1024  # distinct expression texts kept; a program uses a handful
_IS_NODE: dict[type, bool] = {}


def _is_node(cls: type) -> bool:
    answer = _IS_NODE.get(cls)
    if answer is None:
        from localcloud.compat.moto.dynamodb import Node

        answer = _IS_NODE[cls] = issubclass(cls, Node)
    return answer


def _traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
    cls = type(node)
    if not _is_node(cls):
        return node
    parent_node = node.parent
    children = node.children
    if children is not None:
        for i, child_node in enumerate(children):
            self.pre_processing_of_child(node, i)
            self.traverse_node_recursively(child_node, i)
    # which classes this processor handles, answered once per (processor class, node class)
    cache = _processed_classes(self)
    wanted = cache.get(cls)
    if wanted is None:
        wanted = cache[cls] = issubclass(cls, self.nodes_to_be_processed())
    if wanted:
        node = self.process(node)
        node.parent = parent_node
        if parent_node:
            parent_node.children[child_id] = node
    return node


_PROCESSED: dict[type, dict[type, bool]] = {}


def _processed_classes(traverser: Any) -> dict[type, bool]:
    key = type(traverser)
    cache = _PROCESSED.get(key)
    if cache is None:
        cache = _PROCESSED[key] = {}
    return cache


_CLAUSE_KIND: dict[type, int] = {}  # 1: Expression, 2: UpdateExpressionFunction, 0: neither


def _kind(cls: type) -> int:
    kind = _CLAUSE_KIND.get(cls)
    if kind is None:
        from localcloud.compat.moto.dynamodb import Expression, UpdateExpressionFunction

        kind = _CLAUSE_KIND[cls] = 1 if issubclass(cls, Expression) else 2 if issubclass(cls, UpdateExpressionFunction) else 0
    return kind


def _find_clauses(self: Any, clause_types: Any) -> list[Any]:
    clauses: list[Any] = []
    for child in self.children or []:
        cls = type(child)
        if cls in clause_types:
            clauses.append(child)
        elif _kind(cls):
            clauses.extend(child.find_clauses(clause_types))
    return clauses


def _make_cached(cls: Any, expression_str: str) -> Any:
    tree = _PARSED.get(expression_str)
    if tree is None:
        tree = _ORIGINAL["make"].__func__(cls, expression_str)
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
            _TEXT_OF.clear()
            _PASSED.clear()
        _PARSED[expression_str] = tree
        _TEXT_OF[id(tree)] = expression_str
    return tree


def _structural_classes() -> tuple[type, ...]:
    from localcloud.compat.moto.dynamodb import validators

    return tuple(getattr(validators, name) for name in _STRUCTURAL_NAMES)


def _validate(self: Any) -> Any:
    """``Validator.validate``: the same passes in the same order, minus leading structural checks known to pass."""
    text = _TEXT_OF.get(id(self.__dict__.get("_localcloud_source")))
    structural = _structural_classes()
    names = self.expression_attribute_names or {}
    table = getattr(self, "table", None)
    base = None
    if text is not None and table is not None:
        base = (text, tuple(sorted(names.items())), tuple(getattr(table, "table_key_attrs", ()) or ()))
    n = self.node_to_validate
    leading = True
    for processor in self.processors:
        kind = type(processor)
        leading = leading and kind in structural
        if leading and base is not None and (kind, *base) in _PASSED:
            continue
        n = processor.traverse(n)
        if leading and base is not None:
            _PASSED.add((kind, *base))
    return n


def _validator_init(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
    _ORIGINAL["validator_init"](self, expression, *args, **kwargs)
    self._localcloud_source = expression  # the parsed tree this validator copied (identity, for _TEXT_OF)


_ATOMIC = (str, int, float, bool, type(None), bytes)
_PLAIN: dict[type, bool] = {}


def _is_plain_node(cls: type) -> bool:
    """A Node class copied by ``copy.deepcopy`` through the default reduce protocol (no hooks, no slots)."""
    answer = _PLAIN.get(cls)
    if answer is None:
        hooks = ("__deepcopy__", "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__", "__slots__")
        answer = _is_node(cls) and not any(
            hook in klass.__dict__ for klass in cls.__mro__ if klass is not object for hook in hooks)
        _PLAIN[cls] = answer
    return answer


def _clone(value: Any, memo: dict[int, Any]) -> Any:
    cls = type(value)
    if cls in _ATOMIC:
        return value
    key = id(value)
    if key in memo:
        return memo[key]
    if cls is list:
        copied: Any = []
        memo[key] = copied
        copied.extend(_clone(item, memo) for item in value)
    elif _is_plain_node(cls):
        copied = object.__new__(cls)
        memo[key] = copied
        copied.__dict__.update({name: _clone(item, memo) for name, item in value.__dict__.items()})
    else:
        return copy.deepcopy(value, memo)
    copy._keep_alive(value, memo)  # what deepcopy does for every copied object
    return copied


def _deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy`` for the validators module: node trees cloned structurally, the rest by deepcopy."""
    return _clone(value, {} if memo is None else memo)


def _dynamic_classes_are_plain() -> bool:
    """moto's traversers must not override the walk itself (else the cache could skip their logic)."""
    from localcloud.compat.moto.dynamodb import DepthFirstTraverser, validators

    for name in dir(validators):
        value = getattr(validators, name)
        if isinstance(value, type) and issubclass(value, DepthFirstTraverser) and value is not DepthFirstTraverser:
            if "traverse_node_recursively" in value.__dict__ or "nodes_to_be_processed" in value.__dict__:
                return False
    return True


def install() -> None:
    """Use the cached walks (idempotent; a no-op if moto's traversers override the walk)."""
    from localcloud.compat.moto.dynamodb import DepthFirstTraverser, Node, UpdateExpressionParser, validators

    if PATCH.applied or not _dynamic_classes_are_plain():
        return
    PATCH.on_undo(_forget)
    PATCH.set(validators, "deepcopy", _deepcopy)
    _ORIGINAL["make"] = PATCH.set(UpdateExpressionParser, "make", classmethod(_make_cached))
    _ORIGINAL["validator_init"] = PATCH.set(validators.Validator, "__init__", _validator_init)
    PATCH.set(validators.Validator, "validate", _validate)
    PATCH.set(DepthFirstTraverser, "traverse_node_recursively", _traverse_node_recursively)
    PATCH.set(Node, "find_clauses", _find_clauses)


def _forget() -> None:
    _PARSED.clear()
    _TEXT_OF.clear()
    _PASSED.clear()
    _ORIGINAL.clear()


def uninstall() -> None:
    """Restore moto's walks."""
    PATCH.undo()


def installed() -> bool:
    return PATCH.applied

"""The world passed by reference to the journey's handlers that are not inlined.

numba passes a tuple to a compiled function member by member: the `World` (99 arrays and 15
numbers, 619 words in all) was copied onto the stack at every call of a handler that is not
inlined (`report`, `fill`, `find`, ...), and those copies were most of the journey's time
(docs/PERFORMANCE.md, "The world by reference"). `by_reference(w)` puts the world once in the
loop's stack frame and gives a pointer to it, which the handlers take instead; reading `w.visit`
through the pointer loads that member alone, so the handlers' text is the same either way. The
pointer lives no longer than the loop's call (`journey.advance`). As plain Python
(NUMBA_DISABLE_JIT=1) the world is its own reference.
"""

from __future__ import annotations

from numba.core import cgutils, config, types
from numba.core.datamodel import models
from numba.core.imputils import impl_ret_borrowed
from numba.core.typing.templates import AttributeTemplate
from numba.extending import infer_getattr, intrinsic, lower_getattr_generic, register_model


class Ref(types.Type):
    """A pointer to a named tuple (`of`), read member by member as the tuple itself would be."""

    def __init__(self, of: types.Type):
        self.of = of
        super().__init__(name=f"Ref({of})")


@register_model(Ref)
class RefModel(models.PrimitiveModel):
    """What a `Ref` is in machine terms: a pointer to the tuple's own value."""

    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, dmm.lookup(fe_type.of).get_value_type().as_pointer())


@infer_getattr
class RefAttributes(AttributeTemplate):
    """A `Ref`'s attributes are its tuple's members, of their types."""
    key = Ref

    def generic_resolve(self, ref, attr):
        if attr in ref.of.fields:
            return ref.of.types[ref.of.fields.index(attr)]


@lower_getattr_generic(Ref)
def _member(context, builder, ref, pointer, attr):
    """One member, loaded through the pointer (the rest of the tuple is not read)."""
    i = ref.of.fields.index(attr)
    value = builder.load(cgutils.gep_inbounds(builder, pointer, 0, i))
    return impl_ret_borrowed(context, builder, ref.of.types[i], value)


if config.DISABLE_JIT:
    def by_reference(world):
        return world
else:
    @intrinsic
    def by_reference(typingctx, world):
        def codegen(context, builder, signature, args):
            return cgutils.alloca_once_value(builder, args[0])
        return Ref(world)(world), codegen

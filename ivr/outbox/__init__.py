"""Side effects that leave after the call's turn: texts and ride hand-offs, delivered by a worker."""

"""Site load management (issue 16): the chargers of a site share its electrical connection.

Pure domain: the electrical model and its validation (`model`), the allocator (`allocator`),
the rotation of paused connectors (`rotation`) and the order of the changes (`plan`).
"""

"""vrmed-clip-lab: an example third-party distribution that extends vrmed through its seams.

- ``clip_tool``: a clip applier, a new instrument type added to the tool-behaviour registry;
- ``patch_attachment``: a distributed surface-patch attachment, a new tissue constraint type;
- ``overlay``: a render pass that draws the clip count over the finished frame;
- ``plugin``: the engine plugin (entry point ``vrmed.plugins: clip_lab``) that installs all three.

It imports only the public pack API, ``vrmed.api``.
"""

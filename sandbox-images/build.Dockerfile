# A build image: the language's sandbox image (RUNTIME) plus what installs packages (pip's wheel,
# or npm), in /opt/kiln-build. kiln runs a custom runtime's install in a box of this image, under
# the sandbox's hardening; the runtime's own image is then made FROM the sandbox image, with only
# the installed packages added, so no package manager ever reaches a box that runs code.
ARG RUNTIME
FROM ${RUNTIME}
COPY tools/ /opt/kiln-build/
# The build program is Python in both images: the Python harness runs it.
ENTRYPOINT ["python3", "-I", "-S", "/opt/kiln/wrapper.py", "python3", "-u", "/opt/kiln-build/harness.py"]

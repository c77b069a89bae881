import re

from setuptools import find_packages, setup

with open('napix/__init__.py') as init:
    version = re.search(r"__version__ = '([^']+)'", init.read()).group(1)

ORJSON = 'orjson>=3.6,<4; platform_python_implementation == "CPython"'

with open('README.rst') as readme:
    long_description = readme.read()

setup(
    name='napixd-client',
    version=version,
    description='Send signed requests to Napix servers, one at a time or hundreds at once, '
                'on gevent',
    long_description=long_description,
    long_description_content_type='text/x-rst',
    license='BSD-3-Clause',
    packages=find_packages(include=['napix', 'napix.*', 'napixd', 'napixd.*']),
    # PEP 561: both packages ship their type hints (the py.typed markers).
    package_data={'napix': ['py.typed'], 'napixd': ['py.typed']},
    include_package_data=True,
    python_requires='>=3.9',
    install_requires=[
        'gevent>=22.10,<27',
        'httptools>=0.5,<1',
        'requests>=2.25,<3',
        'rich>=12,<16',
        # The fast JSON decoder, where it ships wheels; elsewhere (PyPy) the
        # standard library's json decodes, counted in CI by bench/cost.py --check.
        ORJSON,
    ],
    extras_require={
        # The former opt-in to orjson, kept so that '.[fast]' still installs:
        # the same requirement as the default one.
        'fast': [ORJSON],
        # napix.opentelemetry: traces and metrics (docs/watching.rst)
        'otel': ['opentelemetry-api>=1.20,<2'],
        'test': [
            'pytest>=7,<10',
            'pytest-timeout>=2,<3',
            'pytest-xdist>=3,<4',
            'trustme>=1.0,<2',
            'hypothesis>=6.50,<7',
            # the real HTTP servers of tests/live/test_server_matrix.py
            'waitress>=3,<4',
            'gunicorn>=22,<28',
            'uvicorn>=0.30,<1',
            'h11>=0.16,<1',
            'hypercorn>=0.17,<1',
            'cheroot>=10,<12',
            'tornado>=6.4,<7',
            'aiohttp>=3.9,<4',
            # tests/test_opentelemetry.py: the SDK's in-memory exporters
            'opentelemetry-sdk>=1.20,<2',
        ],
        'docs': ['sphinx>=7,<10', 'trustme>=1.0,<2', 'opentelemetry-sdk>=1.20,<2'],
        'typing': ['mypy>=1.8,<2', 'opentelemetry-api>=1.20,<2'],
        'packaging': ['build>=1,<2', 'twine>=5,<8'],
        'lint': ['ruff>=0.5'],
        'bench': ['orjson>=3.6,<4', 'trustme>=1.0,<2', 'grequests>=0.7', 'geventhttpclient>=2',
                  'aiohttp>=3.8',
                  'httpx>=0.24', 'matplotlib>=3.5'],
    },
    entry_points={
        'console_scripts': ['napix = napixd.client.__main__:main'],
    },
    classifiers=[
        'Development Status :: 4 - Beta',
        'Framework :: Gevent',
        'Intended Audience :: System Administrators',
        'Programming Language :: Python :: 3',
        'Topic :: Internet :: WWW/HTTP',
    ],
)

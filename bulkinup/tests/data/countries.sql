-- The tables of countries.toml, the same on SQLite, PostgreSQL and MySQL/MariaDB. The
-- foreign keys are checked at once (not deferred).
CREATE TABLE countries (
  cca3 VARCHAR(3) PRIMARY KEY,
  cca2 VARCHAR(2),
  name VARCHAR(100) NOT NULL,
  official_name VARCHAR(100),
  region VARCHAR(50),
  population BIGINT
);
CREATE TABLE country_languages (
  country_cca3 VARCHAR(3) NOT NULL,
  code VARCHAR(3) NOT NULL,
  name VARCHAR(100),
  PRIMARY KEY (country_cca3, code),
  FOREIGN KEY (country_cca3) REFERENCES countries (cca3)
);
CREATE TABLE country_currencies (
  country_cca3 VARCHAR(3) NOT NULL,
  code VARCHAR(3) NOT NULL,
  name VARCHAR(100),
  symbol VARCHAR(10),
  PRIMARY KEY (country_cca3, code),
  FOREIGN KEY (country_cca3) REFERENCES countries (cca3)
);
CREATE TABLE country_tlds (
  country_cca3 VARCHAR(3) NOT NULL,
  name VARCHAR(20) NOT NULL,
  PRIMARY KEY (country_cca3, name),
  FOREIGN KEY (country_cca3) REFERENCES countries (cca3)
);
CREATE TABLE country_borders (
  country_code VARCHAR(3) NOT NULL,
  neighbour_code VARCHAR(3) NOT NULL,
  PRIMARY KEY (country_code, neighbour_code),
  FOREIGN KEY (country_code) REFERENCES countries (cca3),
  FOREIGN KEY (neighbour_code) REFERENCES countries (cca3)
);

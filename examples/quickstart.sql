-- The README's Quick start: a small database of one department system, created by
--   psql postgresql://postgres@127.0.0.1/postgres -f examples/quickstart.sql
-- (re-runnable: it drops and recreates the database ub_quickstart). Places are real public sites in
-- Changsha; the visitor counts and dates are made up for the example.
DROP DATABASE IF EXISTS ub_quickstart;
CREATE DATABASE ub_quickstart;
\connect ub_quickstart

CREATE TABLE scenic_spots (
    id          integer PRIMARY KEY,
    name        text NOT NULL,
    name_en     text NOT NULL,
    district    text NOT NULL,
    kind        text NOT NULL,
    updated_at  timestamp NOT NULL
);
INSERT INTO scenic_spots VALUES
    (1, '岳麓山', 'Yuelu Mountain', '岳麓区', 'mountain park', '2024-05-01 09:00'),
    (2, '橘子洲', 'Orange Isle', '岳麓区', 'river island park', '2024-05-01 09:00'),
    (3, '岳麓书院', 'Yuelu Academy', '岳麓区', 'historic academy', '2024-05-02 10:30'),
    (4, '湖南博物院', 'Hunan Museum', '开福区', 'museum', '2024-05-02 10:30'),
    (5, '天心阁', 'Tianxin Pavilion', '天心区', 'historic pavilion', '2024-05-03 08:15'),
    (6, '太平老街', 'Taiping Old Street', '天心区', 'historic street', '2024-05-03 08:15'),
    (7, '烈士公园', 'Martyrs Park', '开福区', 'city park', '2024-05-04 14:00'),
    (8, '贾谊故居', 'Jia Yi Former Residence', '天心区', 'historic residence', '2024-05-04 14:00'),
    (9, '开福寺', 'Kaifu Temple', '开福区', 'temple', '2024-05-05 11:45'),
    (10, '洋湖湿地公园', 'Yanghu Wetland Park', '岳麓区', 'wetland park', '2024-05-05 11:45'),
    (11, '李自健美术馆', 'Li Zijian Art Museum', '岳麓区', 'art museum', '2024-05-06 16:20'),
    (12, '铜官窑古镇', 'Tongguan Kiln Ancient Town', '望城区', 'ancient town', '2024-05-06 16:20');

CREATE TABLE visits (
    spot_id  integer NOT NULL REFERENCES scenic_spots (id),
    day      date NOT NULL,
    visitors integer NOT NULL,
    PRIMARY KEY (spot_id, day)
);
INSERT INTO visits
SELECT s.id, d::date, 500 + (s.id * 37 + extract(doy FROM d)::int * 11) % 4000
FROM scenic_spots s, generate_series(date '2024-05-01', date '2024-05-07', interval '1 day') AS d;
